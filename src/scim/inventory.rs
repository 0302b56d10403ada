//! The target's inventory, read page by page (RFC 7644 §3.4.2.4, 1-based `startIndex`):
//! reconciliation reads it to correct drift, and import (PRODUCT §3.4) marks each user as
//! new, already linked, or already in sesame, and creates the chosen new ones in sesame.
//! Users suspended in the target are not imported.

use reqwest::Method;
use serde_json::Value;

use super::control::ControlError;
use super::target::Live;
use crate::directory::names::Username;
use crate::directory::users::{self, UserFields};
use crate::directory::{Actor, DirectoryError};
use crate::store::scim as store;
use crate::store::Db;

const PAGE: usize = 100;
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Status {
    New,
    Linked,
    /// A sesame user has this userName but is not linked to this account yet.
    InSesame,
    Suspended,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::New => "new",
            Status::Linked => "already linked",
            Status::InSesame => "already in sesame (linked when in scope)",
            Status::Suspended => "suspended in the target (not imported)",
        })
    }
}

impl Status {
    /// The stable code the API uses.
    pub fn code(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Linked => "linked",
            Status::InSesame => "in_sesame",
            Status::Suspended => "suspended",
        }
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub username: String,
    pub email: String,
    pub status: Status,
    #[serde(skip)]
    resource: Value,
}

/// Every user resource of the target, page by page.
pub async fn remote_users(t: &Live) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut start = 1;
    for _ in 0..MAX_PAGES {
        let ex = t
            .client
            .send(
                Method::GET,
                &format!("/Users?startIndex={start}&count={PAGE}"),
                None,
            )
            .await;
        let body = match (ex.status, &ex.response) {
            (Some(200), Some(b)) => b.clone(),
            _ => {
                return Err(format!(
                    "listing the target's users failed: {}",
                    ex.detail()
                ))
            }
        };
        let page = body["Resources"].as_array().cloned().unwrap_or_default();
        let total = body["totalResults"].as_u64().unwrap_or(0) as usize;
        start += page.len();
        let done = page.is_empty() || start > total;
        out.extend(page);
        if done {
            break;
        }
    }
    Ok(out)
}

/// Reconciliation (PRODUCT §3.4): reads the target's users, brings each link up to what the
/// target really holds (changed there, deactivated there, deleted there), then queues every
/// user in scope or linked, so the worker corrects any drift with the usual minimal requests.
pub async fn reconcile(db: &Db, t: &Live) -> Result<u64, ControlError> {
    let remote = remote_users(t).await.map_err(ControlError::Remote)?;
    let links = store::links(&mut *db.read().await?, t.app.id).await?;
    // In transactions of a few hundred links: the writer is shared with sign-ons, which
    // must not wait behind a large target's whole inventory. Each link's refresh stands on
    // its own, and the queueing at the end is what makes the worker act on them.
    for chunk in links.chunks(RECONCILE_CHUNK) {
        let mut tx = db.begin().await?;
        for link in chunk {
            match remote
                .iter()
                .find(|r| r["id"].as_str() == Some(link.remote_id.as_str()))
            {
                Some(r) => {
                    let refreshed = store::Link {
                        synced: Value::Object(super::mapping::from_remote(
                            r,
                            &t.row.mappings.keys(),
                        ))
                        .to_string(),
                        active: i64::from(r["active"].as_bool().unwrap_or(true)),
                        ..link.clone()
                    };
                    store::put_link(&mut tx, &refreshed).await?;
                }
                None => store::delete_link(&mut tx, link.app_id, link.user_id).await?,
            }
        }
        tx.commit().await?;
    }
    let mut tx = db.begin().await?;
    let queued = store::enqueue_app(&mut tx, t.app.id).await?;
    store::release_all(&mut tx, t.app.id).await?;
    store::mark_synced(&mut tx, t.app.id).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Links refreshed per transaction by `reconcile`.
const RECONCILE_CHUNK: usize = 250;

/// Whether a sesame user has this userName (compared as sesame compares usernames).
async fn in_sesame(
    conn: &mut crate::store::Conn,
    username: &str,
) -> Result<bool, crate::store::StoreError> {
    let Ok(name) = Username::parse(username) else {
        return Ok(false);
    };
    Ok(crate::store::users::by_key(conn, &name.key())
        .await?
        .is_some())
}

/// Every user of the target, marked for import.
pub async fn list(db: &Db, t: &Live) -> Result<Vec<Candidate>, ControlError> {
    // The target first: no connection is held while it answers.
    let remote = remote_users(t).await.map_err(ControlError::Remote)?;
    let mut conn = db.read().await?;
    let links = store::links(&mut conn, t.app.id).await?;
    let mut out = Vec::new();
    for r in remote {
        let r = &r;
        let username = r["userName"].as_str().unwrap_or("").to_string();
        let id = r["id"].as_str().unwrap_or("");
        let status = if links.iter().any(|l| l.remote_id == id) {
            Status::Linked
        } else if r["active"].as_bool() == Some(false) {
            Status::Suspended
        } else if in_sesame(&mut conn, &username).await? {
            Status::InSesame
        } else {
            Status::New
        };
        let email = r["emails"]
            .as_array()
            .and_then(|e| e.iter().find(|m| m["primary"] == true).or(e.first()))
            .and_then(|m| m["value"].as_str())
            .unwrap_or("")
            .to_string();
        out.push(Candidate {
            username,
            email,
            status,
            resource: r.clone(),
        });
    }
    Ok(out)
}

/// Creates the chosen new users in sesame (no password: an admin sets one). Returns one
/// line per candidate.
pub async fn import(
    db: &Db,
    actor: &Actor,
    chosen: &[Candidate],
) -> Result<Vec<String>, DirectoryError> {
    let mut report = Vec::new();
    for c in chosen {
        if c.status != Status::New {
            report.push(format!("{}: skipped, {}", c.username, c.status));
            continue;
        }
        let r = &c.resource;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let fields = UserFields {
            email: Some(c.email.clone()),
            first_name: text(&r["name"]["givenName"]),
            last_name: text(&r["name"]["familyName"]),
            title: text(&r["title"]),
            employee_id: text(&r["externalId"]),
            ..UserFields::default()
        };
        // Not linked here: the link is made when the user enters the app's scope (by the
        // usual look-up), so importing alone never changes the account in the target.
        match users::add(db, actor, &c.username, &fields, None).await {
            Ok(_) => report.push(format!(
                "{}: imported (linked once in a group bound to the app)",
                c.username
            )),
            Err(e) => report.push(format!("{}: not imported: {e}", c.username)),
        }
    }
    Ok(report)
}
