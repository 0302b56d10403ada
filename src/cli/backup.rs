//! `sesame backup` and `sesame restore` (the archive and its checks are `crate::backup`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::backup::{self, Place, Recorded};
use crate::config::Config;
use crate::directory::Actor;

#[derive(Args)]
pub struct BackupArgs {
    /// The archive to write (a .tar.gz, created with mode 0600)
    file: PathBuf,
    /// Replace the file if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// An archive written by `sesame backup`
    file: PathBuf,
    /// Replace an existing database and key files (they are moved aside, not deleted)
    #[arg(long)]
    force: bool,
    /// Only read and check the archive, and list it; restore nothing
    #[arg(long, conflicts_with = "force")]
    check: bool,
}

fn note_secret_key(config: &Config) {
    if !config.secret_key.is_empty() {
        eprintln!(
            "note: secret_key is set in the configuration and is not in the archive; the \
             stored SCIM credentials open only with it: keep it with the backup"
        );
    }
}

pub async fn backup(config: &Config, a: BackupArgs) -> anyhow::Result<()> {
    let place = Place::new(&config.database_url, &config.certs_dir)?;
    let manifest = backup::create(&place, &a.file, a.force, super::CLI_WAIT).await?;
    let db = super::open(config).await?;
    backup::record(&db, &Actor::cli(), Recorded::Backup, &a.file, &manifest)
        .await
        .context("the backup is written, but its audit event is not")?;
    println!(
        "wrote {}: the database as of {} and {} key file(s)",
        a.file.display(),
        manifest.created_at,
        manifest.members.len() - 1
    );
    note_secret_key(config);
    Ok(())
}

pub async fn restore(config: &Config, a: RestoreArgs) -> anyhow::Result<()> {
    if a.check {
        let manifest = backup::check(&a.file)?;
        println!(
            "ok: a backup of {} by sesame {}",
            manifest.created_at, manifest.sesame
        );
        for m in &manifest.members {
            println!(
                "{:>12}  {}  {}",
                m.size,
                m.sha256.get(..16).unwrap_or_default(),
                m.name
            );
        }
        return Ok(());
    }
    let place = Place::new(&config.database_url, &config.certs_dir)?;
    let restored = backup::restore(&place, &a.file, a.force).await?;
    for aside in &restored.moved_aside {
        println!("moved aside: {}", aside.display());
    }
    // Opening migrates a backup from an older sesame, and shows that the database works.
    let db = super::open(config).await?;
    backup::record(
        &db,
        &Actor::cli(),
        Recorded::Restore,
        &a.file,
        &restored.manifest,
    )
    .await
    .context("restored, but the restore's audit event is not written")?;
    println!(
        "restored the backup of {} into {} and {} ({} key file(s)); start `sesame serve`",
        restored.manifest.created_at,
        place.database.display(),
        place.certs_dir.display(),
        restored.manifest.members.len() - 1
    );
    note_secret_key(config);
    Ok(())
}
