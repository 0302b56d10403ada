//! `sesame cert ...`: the signing keys, the shared IdP key or, with `--app`, an app's own.
//! A running `serve` signs with a changed key from its next answer on.

use clap::Subcommand;

use crate::config::Config;
use crate::directory::{apps, Actor};
use crate::saml::keys::{self, KeyKind, KeyScope, KeySet, SigningKey};
use crate::saml::rollover;
use crate::store::Db;

#[derive(Subcommand)]
pub enum CertCommand {
    /// Create the signing key and certificate (RSA-2048, or ECDSA P-256 with --ec); with
    /// --app, give that app its own key instead of the shared one (it signs with it at once)
    Generate {
        #[arg(long)]
        ec: bool,
        /// Replace an existing shared key at once (every SP that trusts the old one breaks)
        #[arg(long, conflicts_with = "app")]
        force: bool,
        #[arg(long, value_name = "SLUG")]
        app: Option<String>,
    },
    /// Create the next key: published in metadata, not yet used to sign
    StageNext {
        #[arg(long)]
        ec: bool,
        #[arg(long, value_name = "SLUG")]
        app: Option<String>,
    },
    /// Sign with the staged next key from now on
    ActivateNext {
        #[arg(long, value_name = "SLUG")]
        app: Option<String>,
    },
    /// Show the active and next keys (of the app with --app)
    Show {
        #[arg(long, value_name = "SLUG")]
        app: Option<String>,
    },
    /// Make the app sign with the shared IdP key again (its own key files are removed)
    UseShared {
        #[arg(long, value_name = "SLUG")]
        app: String,
    },
}

fn kind(ec: bool) -> KeyKind {
    if ec {
        KeyKind::EcP256
    } else {
        KeyKind::Rsa
    }
}

fn describe(label: &str, k: &SigningKey) {
    let until = k.cert.not_after().to_string();
    println!(
        "{label:<7} {:?}  SHA-256 {}  valid until {until}",
        k.kind, k.fingerprint
    );
}

fn show(set: &KeySet) {
    describe("active", &set.active);
    if let Some(n) = &set.next {
        describe("next", n);
    }
    if set.active.kind == KeyKind::EcP256 {
        println!(
            "note: many SPs (SimpleSAMLphp, samlify, node-saml among them) cannot verify ECDSA"
        );
    }
}

/// The scope `--app` names, once the app is known.
async fn scope(db: &Db, app: Option<String>) -> anyhow::Result<KeyScope> {
    match app {
        Some(slug) => {
            apps::get(db, &slug).await?;
            Ok(KeyScope::App(slug))
        }
        None => Ok(KeyScope::Shared),
    }
}

pub async fn run(db: &Db, config: &Config, cmd: CertCommand) -> anyhow::Result<()> {
    let dir = &config.certs_dir;
    let actor = Actor::cli();
    let set = match cmd {
        CertCommand::Generate { ec, force, app } => match scope(db, app).await? {
            KeyScope::App(slug) => rollover::own_key(db, dir, &actor, &slug, kind(ec)).await?,
            KeyScope::Shared => keys::generate(dir, kind(ec), force)?,
        },
        CertCommand::StageNext { ec, app } => {
            let scope = scope(db, app).await?;
            rollover::stage_next(db, dir, &actor, &scope, kind(ec)).await?
        }
        CertCommand::ActivateNext { app } => {
            let scope = scope(db, app).await?;
            rollover::activate_next(db, dir, &actor, &scope).await?
        }
        CertCommand::Show { app } => {
            let scope = scope(db, app).await?;
            match KeySet::load(&scope.dir(dir))? {
                Some(set) => set,
                None if scope == KeyScope::Shared => anyhow::bail!(
                    "no signing key in {} yet: run `sesame cert generate`",
                    dir.display()
                ),
                None => {
                    println!("{} signs with the shared IdP key", scope.label());
                    return Ok(());
                }
            }
        }
        CertCommand::UseShared { app } => {
            apps::get(db, &app).await?;
            rollover::shared_key(db, dir, &actor, &app).await?;
            println!("app {app} signs with the shared IdP key again");
            return Ok(());
        }
    };
    show(&set);
    Ok(())
}
