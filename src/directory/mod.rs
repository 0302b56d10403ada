//! The directory: users, groups, apps and the bindings between them, and the one rule that
//! decides who may use what (`access`). Every change runs in a transaction that also writes
//! its audit event, so the trail and the data never disagree.

pub mod access;
pub mod actions;
pub mod apps;
pub mod catalog;
pub mod expr;
pub mod groups;
pub mod import;
pub mod logo;
pub mod names;
pub mod owner;
pub mod users;

use serde_json::Value;

use crate::store::events::{self, NewEvent};
use crate::store::{Conn, StoreError};

pub use crate::store::apps::App;
pub use crate::store::groups::Group;
pub use crate::store::users::User;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The input is malformed; the message names the field and the rule.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    NotFound(String),
    /// An inbound SCIM source owns the user or group, or the source acting does not.
    #[error("{0}")]
    Managed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DirectoryError {
    fn from(e: sqlx::Error) -> Self {
        DirectoryError::Store(StoreError::from(e))
    }
}

/// Who made a change, as recorded in events: `cli:<os user>`, `admin:<username>`,
/// `user:<username>` or `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Self {
        Actor("system".into())
    }
    pub fn cli() -> Self {
        let who = ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .or_else(uid)
            .unwrap_or_else(|| "unknown".into());
        Actor(format!("cli:{who}"))
    }
    pub fn user(username: &str) -> Self {
        Actor(format!("user:{username}"))
    }
    /// An inbound SCIM source (`scim:<source>`).
    pub fn scim(source: &str) -> Self {
        Actor(format!("scim:{source}"))
    }
    /// The source's name when this actor is an inbound SCIM source.
    pub fn scim_source(&self) -> Option<&str> {
        self.0.strip_prefix("scim:")
    }
    /// An admin in the console, or through the API with one of their tokens.
    pub fn admin(username: &str, token: Option<&str>) -> Self {
        match token {
            Some(t) => Actor(format!("admin:{username} (token {t})")),
            None => Actor(format!("admin:{username}")),
        }
    }
}

/// A search box: case-insensitive substring of any of `fields`; an empty query matches all.
pub fn matches(q: &str, fields: &[&str]) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&q))
}

/// `uid-N` from /proc, when no user name is in the environment (containers, cron).
fn uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1).map(|n| format!("uid-{n}"))
}

/// Writes an audit event for a change made inside `conn`'s transaction.
pub(crate) async fn audit(
    conn: &mut Conn,
    actor: &Actor,
    name: &'static str,
    app_slug: Option<&str>,
    username: Option<&str>,
    detail: Value,
) -> Result<(), DirectoryError> {
    let event = NewEvent {
        name,
        actor: actor.0.clone(),
        app_slug: app_slug.map(str::to_string),
        username: username.map(str::to_string),
        outcome: "success",
        status: None,
        detail,
    };
    events::insert(conn, &event).await?;
    Ok(())
}
