//! `sesame scim-source ...`: inbound SCIM sources (an HR system or an IdP that provisions
//! users and groups into sesame at `/scim/v2`).

use clap::Subcommand;

use super::output::{json, table};
use crate::directory::Actor;
use crate::inbound::sources;
use crate::store::Db;

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Create a source and print its bearer token once (stored hashed, not shown again)
    Add { name: String },
    /// List sources (never their tokens)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a source: its token gets 401 and what it created is released to admins
    Revoke { name: String },
}

pub async fn run(db: &Db, base_url: &url::Url, cmd: SourceCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        SourceCommand::Add { name } => {
            let token = sources::create(db, &actor, &name).await?;
            println!("{token}");
            eprintln!(
                "SCIM source {name:?}: give it the base URL {base_url}scim/v2 and this bearer token; keep it secret: it is not shown again"
            );
            Ok(())
        }
        SourceCommand::List { json: as_json } => {
            let rows = sources::list(db).await?;
            if as_json {
                return json(&rows);
            }
            let when = |t: Option<i64>| t.map(crate::store::when).unwrap_or_else(|| "-".into());
            table(
                &["name", "created", "last used", "revoked"],
                rows.iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            crate::store::when(r.created_at),
                            when(r.last_used_at),
                            when(r.revoked_at),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        SourceCommand::Revoke { name } => {
            sources::revoke(db, &actor, &name).await?;
            println!("revoked {name}");
            Ok(())
        }
    }
}
