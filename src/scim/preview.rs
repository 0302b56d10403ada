//! The mapped SCIM user (issue 16): what sesame would send a target on create for one user,
//! the built-in mapping, the exclusions and the target's own mappings applied. Nothing is
//! sent; the console and the API show it beside the settings.

use serde_json::Value;

use super::{mapping, maps, target};
use crate::directory::{users, DirectoryError};
use crate::store::scim as store;
use crate::store::Db;

/// The `POST /Users` body (RFC 7644 §3.3) app `slug`'s target would get for `username`,
/// and which of its attributes later updates leave alone (create-only).
pub async fn user(
    db: &Db,
    slug: &str,
    username: &str,
) -> Result<(Value, Vec<String>), DirectoryError> {
    let mut conn = db.read().await?;
    let (app, row, _) = target::get(&mut conn, slug).await?;
    let user = users::find(&mut conn, username).await?;
    let manager = match crate::store::users::manager_id(&mut conn, user.id).await? {
        Some(m) => store::remote_id(&mut conn, app.id, m).await?,
        None => None,
    };
    let attrs = maps::resource(
        &user,
        &target::excluded(&row),
        manager.as_deref(),
        &row.mappings,
    );
    Ok((mapping::create_body(&attrs), row.mappings.create_only()))
}
