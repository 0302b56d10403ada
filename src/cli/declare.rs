//! `sesame apply` and `sesame export`: configuration as code (`crate::declare`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::config::Config;
use crate::declare::{self, Applier, Declaration};
use crate::directory::Actor;

#[derive(Args)]
pub struct ApplyArgs {
    /// The declaration (TOML: [[admin]], [[group]], [[app]] with [app.sso] and [app.scim])
    file: PathBuf,
    /// Show the plan and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Also delete the apps and groups the file does not declare, and take the admin role
    /// from accounts it does not list
    #[arg(long)]
    prune: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub async fn apply(config: &Config, a: ApplyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let decl = Declaration::parse(&text).with_context(|| format!("{}", a.file.display()))?;
    let db = super::open(config).await?;
    let key = config.seal_key().context("cannot load the secret key")?;
    let dir = a.file.parent().unwrap_or(std::path::Path::new("."));
    let plan = declare::plan(&db, &key, &decl, dir, a.prune).await?;
    print!("{}", plan.render());
    if a.dry_run || plan.is_empty() {
        return Ok(());
    }
    let total = plan.steps.len();
    let applier = Applier {
        db: &db,
        key: &key,
        certs_dir: &config.certs_dir,
        actor: Actor(format!("apply:{}", a.file.display())),
    };
    let applied = applier.apply(plan).await;
    if let Some((step, e)) = applied.failed {
        bail!(
            "applied {} of {total} steps; stopped at {}{}: {e} (fix the file and apply again: \
             what was done is kept)",
            applied.done,
            step.what,
            if step.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", step.detail)
            }
        );
    }
    println!("Applied {total} steps.");
    Ok(())
}

pub async fn export(config: &Config, a: ExportArgs) -> anyhow::Result<()> {
    let db = super::open(config).await?;
    let text = declare::export(&db).await?;
    match a.output {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
