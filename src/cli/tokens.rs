//! `sesame admin-token ...`: tokens for the JSON admin API (`/api/v1`).

use clap::Subcommand;

use super::output::{json, table};
use crate::auth::tokens;
use crate::directory::Actor;
use crate::store::Db;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (it is stored hashed and cannot be shown again)
    Create {
        name: String,
        /// The admin the token acts as (its changes are recorded under this name)
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// List tokens (never the tokens themselves)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token; requests with it get 401 from then on
    Revoke { name: String },
}

pub async fn run(db: &Db, cmd: TokenCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        TokenCommand::Create { name, user } => {
            let token = tokens::create(db, &actor, &name, &user).await?;
            println!("{token}");
            eprintln!("token {name:?} acts as {user}; keep it secret: it is not shown again");
            Ok(())
        }
        TokenCommand::List { json: as_json } => {
            let rows = tokens::list(db).await?;
            if as_json {
                return json(&rows);
            }
            let when = |t: Option<i64>| t.map(crate::store::when).unwrap_or_else(|| "-".into());
            table(
                &["name", "user", "created", "last used", "revoked"],
                rows.iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.owner.clone(),
                            crate::store::when(r.created_at),
                            when(r.last_used_at),
                            when(r.revoked_at),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(db, &actor, &name).await?;
            println!("revoked {name}");
            Ok(())
        }
    }
}
