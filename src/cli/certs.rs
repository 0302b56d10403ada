//! `sesame cert ...`: the signing keys. A running `serve` picks up changes within seconds.

use clap::Subcommand;

use crate::config::Config;
use crate::saml::keys::{self, KeyKind, KeySet, SigningKey};

#[derive(Subcommand)]
pub enum CertCommand {
    /// Create the signing key and certificate (RSA-2048, or ECDSA P-256 with --ec)
    Generate {
        #[arg(long)]
        ec: bool,
        /// Replace an existing key at once (every SP that trusts the old one breaks)
        #[arg(long)]
        force: bool,
    },
    /// Create the next key: published in metadata, not yet used to sign
    StageNext {
        #[arg(long)]
        ec: bool,
    },
    /// Sign with the staged next key from now on
    ActivateNext,
    /// Show the active and next keys
    Show,
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
}

pub fn run(config: &Config, cmd: CertCommand) -> anyhow::Result<()> {
    let dir = &config.certs_dir;
    let set = match cmd {
        CertCommand::Generate { ec, force } => keys::generate(dir, kind(ec), force)?,
        CertCommand::StageNext { ec } => keys::stage_next(dir, kind(ec))?,
        CertCommand::ActivateNext => keys::activate_next(dir)?,
        CertCommand::Show => KeySet::load(dir)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no signing key in {} yet: run `sesame cert generate`",
                dir.display()
            )
        })?,
    };
    show(&set);
    Ok(())
}
