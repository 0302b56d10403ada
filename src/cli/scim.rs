//! `sesame scim ...`: Identity Management per app (PRODUCT §3.4, §3.5).

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::output;
use super::read_secret;
use crate::config::Config;
use crate::directory::Actor;
use crate::scim::control;
use crate::scim::secret::{SealKey, Secret};
use crate::scim::target::{self, Changes, Credential, Switch};
use crate::store::scim as store;
use crate::store::Db;

#[derive(Subcommand)]
pub enum ScimCommand {
    /// Configure the app's SCIM target (token or basic credentials from stdin or a prompt)
    Set(Box<SetArgs>),
    /// Show the settings, state and queue (never the credential)
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Probe the target read-only and say what fails
    Test { slug: String },
    /// Start provisioning (an initial sync of everyone in scope follows)
    Activate { slug: String },
    /// Stop provisioning; links and settings are kept
    Deactivate { slug: String },
    /// Resume a stopped or quarantined target
    Resume { slug: String },
    /// Reconcile now: read the target's users, correct the links, queue everyone in scope or
    /// linked, and wait (with a progress bar) until the server's worker is done
    Sync {
        slug: String,
        /// Print the plan per user and send nothing
        #[arg(long)]
        dry_run: bool,
        /// Give up waiting after this many seconds
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Provision one user now and show every request and answer (credentials left out)
    Provision { slug: String, username: String },
    /// Let a deprovisioning batch paused by the deletion threshold go ahead (for an hour)
    Approve { slug: String },
    /// Drop a paused deprovisioning batch and resume (accounts stay as they are)
    Reject { slug: String },
    /// List the target's users, marked new or linked; import the chosen ones into sesame
    Import {
        slug: String,
        /// Import these userNames (repeat); without --user or --all, only list
        #[arg(long = "user")]
        users: Vec<String>,
        /// Import every active user that is new to sesame
        #[arg(long, conflicts_with = "users")]
        all: bool,
    },
    /// Remove the app's Identity Management settings, links and queue
    Delete { slug: String },
}

#[derive(Args)]
pub struct SetArgs {
    slug: String,
    /// The target's SCIM base URL (e.g. https://api.bluejeans.com/v2/scim)
    #[arg(long)]
    url: Option<String>,
    /// generic | bluejeans | thousandeyes | jive (default: from the app's template)
    #[arg(long)]
    connector: Option<String>,
    /// Read a bearer token from the first line of stdin
    #[arg(long, conflicts_with = "basic_user")]
    token_stdin: bool,
    /// HTTP basic user (Jive); the password comes from stdin with --password-stdin or a prompt
    #[arg(long)]
    basic_user: Option<String>,
    #[arg(long, requires = "basic_user")]
    password_stdin: bool,
    /// What happens to a deleted user's account: deactivate | delete
    #[arg(long)]
    deprovision: Option<String>,
    /// Push the groups bound to the app as SCIM Groups, with their members
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    push_groups: Option<bool>,
    /// Send a password a user sets in sesame to the target, once (never stored in clear)
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    password_sync: Option<bool>,
    /// Pause when more than N accounts would be deprovisioned within an hour (0 = off)
    #[arg(long)]
    deletion_threshold: Option<i64>,
    /// Stop sending an optional attribute (externalId, title, phoneNumbers, manager)
    #[arg(long)]
    exclude: Vec<String>,
    /// Send an excluded optional attribute again
    #[arg(long)]
    include: Vec<String>,
    /// Send the connector's default attributes again
    #[arg(long)]
    restore_defaults: bool,
    /// Mail this address when the target stops, is quarantined or paused, and when it runs
    /// again ("" for none)
    #[arg(long, value_name = "ADDRESS")]
    notify_email: Option<String>,
    /// Whom to provision: assigned (who may use the app) | all (every active user)
    #[arg(long, value_name = "assigned|all")]
    scope: Option<String>,
    /// Scoping filters, one clause a line ("group 1: title equals Engineer"; "" for none);
    /// repeat for several lines
    #[arg(long = "filter", value_name = "CLAUSE")]
    filters: Vec<String>,
    /// Remove every scoping filter
    #[arg(long, conflicts_with = "filters")]
    no_filters: bool,
    /// Matching precedence, comma-separated: userName, externalId, email
    #[arg(long = "match", value_name = "ATTRIBUTES")]
    matching: Option<String>,
    /// An attribute mapping, PATH=EXPRESSION (add " [create]" to send it on create only),
    /// e.g. 'displayName=Join(" ", [first_name], [last_name])'; repeat for several. The
    /// given ones replace every earlier mapping.
    #[arg(long = "map", value_name = "PATH=EXPRESSION")]
    maps: Vec<String>,
    /// Remove every attribute mapping (the built-in mapping stays)
    #[arg(long, conflicts_with = "maps")]
    no_maps: bool,
}

pub async fn run(db: &Db, config: &Config, cmd: ScimCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    let key = config.seal_key().context("cannot load the secret key")?;
    match cmd {
        ScimCommand::Set(a) => {
            let credential = if a.token_stdin {
                Some(Credential::Bearer(Secret::new(read_secret(true, "token")?)))
            } else if let Some(user) = a.basic_user {
                let p = read_secret(a.password_stdin, "password")?;
                Some(Credential::Basic(user, Secret::new(p)))
            } else {
                None
            };
            let changes = Changes {
                url: a.url,
                connector: a.connector,
                credential,
                deprovision: a.deprovision,
                deletion_threshold: a.deletion_threshold,
                push_groups: a.push_groups,
                password_sync: a.password_sync,
                exclude: a.exclude,
                include: a.include,
                restore_defaults: a.restore_defaults,
                notify_email: a.notify_email,
                scope: a.scope,
                filters: if a.no_filters {
                    Some(String::new())
                } else {
                    (!a.filters.is_empty()).then(|| a.filters.join("\n"))
                },
                matching: a.matching,
                mappings: if a.no_maps {
                    Some(String::new())
                } else {
                    (!a.maps.is_empty()).then(|| {
                        let one: Vec<String> = a
                            .maps
                            .iter()
                            .map(|m| m.replace(['\n', '\r'], " "))
                            .collect();
                        one.join("\n")
                    })
                },
            };
            let row = target::update(db, &key, &actor, &a.slug, &changes).await?;
            if let Ok(u) = url::Url::parse(&row.base_url) {
                let local = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "::1"));
                if u.scheme() == "http" && !local {
                    eprintln!(
                        "warning: {} is plain HTTP: the credential travels unencrypted",
                        row.base_url
                    );
                }
            }
            show(db, &a.slug, false).await
        }
        ScimCommand::Show { slug, json } => show(db, &slug, json).await,
        ScimCommand::Test { slug } => {
            let summary = control::test(db, &key, &slug).await?;
            println!("ok: {summary}");
            Ok(())
        }
        ScimCommand::Activate { slug } => {
            let untested = control::overview(db, &slug).await?.tested_at == 0;
            state(db, &actor, &slug, Switch::Activate).await?;
            if untested {
                eprintln!(
                    "warning: Test connection has not passed since the settings changed \
                     (sesame scim test {slug})"
                );
            }
            Ok(())
        }
        ScimCommand::Deactivate { slug } => state(db, &actor, &slug, Switch::Deactivate).await,
        ScimCommand::Resume { slug } => state(db, &actor, &slug, Switch::Resume).await,
        ScimCommand::Sync {
            slug,
            dry_run,
            timeout,
        } => {
            if dry_run {
                plan(db, &key, &slug).await
            } else {
                wait_sync(db, &key, &slug, Duration::from_secs(timeout)).await
            }
        }
        ScimCommand::Provision { slug, username } => {
            let live = live(db, &key, &slug).await?;
            if !live.row.state.sends_requests() {
                eprintln!("note: Identity Management of {slug} is {}; provisioning {username} on demand anyway", live.row.state);
            }
            let (report, stop) = control::provision(db, &live, &username).await?;
            for ex in &report.exchanges {
                println!("{}", serde_json::to_string_pretty(&ex.to_json())?);
            }
            match stop {
                None => {
                    println!("{username}: {}", report.decision);
                    Ok(())
                }
                Some(e) => anyhow::bail!("provisioning {username} stopped: {e}"),
            }
        }
        ScimCommand::Approve { slug } => {
            target::approve(db, &actor, &slug).await?;
            println!("{slug}: deprovisioning approved for an hour; provisioning resumed");
            Ok(())
        }
        ScimCommand::Reject { slug } => {
            let n = target::reject(db, &actor, &slug).await?;
            println!("{slug}: dropped {n} queued deprovisioning job(s); provisioning resumed");
            Ok(())
        }
        ScimCommand::Import { slug, users, all } => {
            let found = control::import_list(db, &key, &slug).await?;
            let rows = found
                .iter()
                .map(|c| vec![c.username.clone(), c.email.clone(), c.status.to_string()])
                .collect();
            output::table(&["userName", "email", "status"], rows);
            if users.is_empty() && !all {
                println!("(list only: add --user <userName>... or --all to import)");
                return Ok(());
            }
            let report = control::import(db, &actor, found, &users, all).await?;
            for line in report {
                println!("{line}");
            }
            Ok(())
        }
        ScimCommand::Delete { slug } => {
            target::delete(db, &actor, &slug).await?;
            println!("removed Identity Management from {slug}");
            Ok(())
        }
    }
}

async fn live(db: &Db, key: &SealKey, slug: &str) -> anyhow::Result<target::Live> {
    Ok(control::live(db, key, slug).await?)
}

async fn state(db: &Db, actor: &Actor, slug: &str, switch: Switch) -> anyhow::Result<()> {
    let row = target::set_state(db, actor, slug, switch).await?;
    println!("{slug}: Identity Management {}", row.state);
    Ok(())
}

async fn show(db: &Db, slug: &str, json: bool) -> anyhow::Result<()> {
    let v = control::status(db, slug).await?;
    if json {
        return output::json(&v);
    }
    if let Some(o) = v.as_object() {
        for (k, val) in o {
            let shown = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:<20}{shown}");
        }
    }
    Ok(())
}

/// `--dry-run`: what a sync would do for each user, from the links we hold; nothing is sent.
async fn plan(db: &Db, key: &SealKey, slug: &str) -> anyhow::Result<()> {
    let live = control::live(db, key, slug).await?;
    let rows = control::plan(db, &live)
        .await?
        .into_iter()
        .map(|l| vec![l.user, l.plan])
        .collect();
    output::table(&["user", "plan (dry run: nothing written)"], rows);
    Ok(())
}

/// Queues everyone and shows progress until the running server's worker has done them.
async fn wait_sync(db: &Db, key: &SealKey, slug: &str, timeout: Duration) -> anyhow::Result<()> {
    let total = control::start_sync(db, key, slug).await?.max(1);
    let mut conn = db.read().await?;
    let app = crate::directory::apps::get(db, slug).await?;
    let started = Instant::now();
    let mut last_left = i64::MAX;
    let mut stalled = Instant::now();
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} users, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("#>."),
    );
    loop {
        let left = store::depth(&mut conn, app.id).await?;
        let done = (total as i64 - left).max(0);
        bar.set_position(done as u64);
        if left == 0 {
            bar.finish();
            println!(
                "{slug}: sync done in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if left < last_left {
            last_left = left;
            stalled = Instant::now();
        }
        if stalled.elapsed() > Duration::from_secs(30) {
            bar.abandon();
            anyhow::bail!("no progress for 30 s with {left} queued: is `sesame serve` running? (`sesame scim show {slug}` shows the state)");
        }
        if started.elapsed() > timeout {
            bar.abandon();
            anyhow::bail!("still {left} queued after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
