//! `sesame user import <file.csv> [--dry-run] [--invite]` (`directory::import`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::output::table;
use crate::config::Config;
use crate::directory::{import, Actor};
use crate::store::Db;

#[derive(Args)]
pub struct ImportArgs {
    /// CSV with a header row: username, email (required), first_name, last_name, title,
    /// phone, employee_id, manager, department, cost_center, location, groups (names
    /// separated by `;`)
    file: PathBuf,
    /// Check every row and show what would happen; create nothing
    #[arg(long)]
    dry_run: bool,
    /// Send each created user an invitation to choose a password (SMTP must be set up)
    #[arg(long, conflicts_with = "dry_run")]
    invite: bool,
}

pub async fn run(db: &Db, config: &Config, a: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let actor = Actor::cli();
    let report = import::import(db, &actor, &text, a.dry_run).await?;
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                r.line.to_string(),
                r.username.clone(),
                r.outcome.clone(),
                r.message.clone(),
            ]
        })
        .collect();
    table(&["LINE", "USERNAME", "OUTCOME", "DETAIL"], rows);
    let mut invited = 0;
    if a.invite {
        let key = config.seal_key()?;
        for r in report.rows.iter().filter(|r| r.outcome == "created") {
            crate::auth::invite::send(db, &key, &config.base_url, &actor, &r.username).await?;
            invited += 1;
        }
    }
    let verb = if a.dry_run { "would create" } else { "created" };
    println!(
        "{verb} {}, {} already there, {} refused{}",
        report.created,
        report.existing,
        report.errors,
        if a.invite {
            format!(", {invited} invited")
        } else {
            String::new()
        }
    );
    if report.errors > 0 {
        bail!("{} row(s) refused: see the DETAIL column", report.errors);
    }
    Ok(())
}
