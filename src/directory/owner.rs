//! Who may change a user or a group that an inbound SCIM source created. The rule, in one
//! place: a source changes only what it created; what a source created is changed only by
//! that source, except that an admin may still suspend and reactivate a user (an emergency
//! stop must always be possible; the source's next write of `active` wins). Every domain
//! operation that changes a user or a group asks [`guard`] inside its transaction.

use super::{Actor, DirectoryError};
use crate::store::inbound::{self, Kind, Owner};
use crate::store::Conn;

/// What an operation is about to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Profile fields, name, description, externalId.
    Profile,
    /// Active or suspended.
    Status,
    /// Group members.
    Members,
    Delete,
}

/// Refuses the change when `actor` may not make it; returns the owner, if any.
pub async fn guard(
    conn: &mut Conn,
    actor: &Actor,
    kind: Kind,
    id: i64,
    name: &str,
    change: Change,
) -> Result<Option<Owner>, DirectoryError> {
    let owner = inbound::owner(conn, kind, id).await?;
    let what = match kind {
        Kind::User => "user",
        Kind::Group => "group",
    };
    match (actor.scim_source(), &owner) {
        (Some(source), Some(o)) if o.source == source => Ok(owner),
        (Some(source), Some(o)) => Err(DirectoryError::Managed(format!(
            "{what} {name:?} is managed by SCIM source {:?}, not {source:?}: a source changes only what it created",
            o.source
        ))),
        (Some(source), None) => Err(DirectoryError::Managed(format!(
            "{what} {name:?} was not created by SCIM source {source:?}: a source changes only what it created"
        ))),
        (None, Some(_)) if change == Change::Status => Ok(owner),
        (None, Some(o)) => Err(DirectoryError::Managed(format!(
            "{what} {name:?} is managed by SCIM source {:?}: change it there (an admin may still suspend or reactivate a user)",
            o.source
        ))),
        (None, None) => Ok(None),
    }
}

/// Sets the externalId the owning source keeps for a user or group (an event when it
/// changes).
pub async fn set_external_id(
    db: &crate::store::Db,
    actor: &Actor,
    kind: Kind,
    (id, name): (i64, &str),
    external_id: &str,
) -> Result<(), DirectoryError> {
    let external_id = super::names::text("externalId", external_id, 200)?;
    let mut tx = db.begin().await?;
    let owner = guard(&mut tx, actor, kind, id, name, Change::Profile).await?;
    let Some(owner) = owner else {
        return Ok(());
    };
    if owner.external_id != external_id {
        inbound::set_external_id(&mut tx, kind, id, &external_id).await?;
        let (event, user) = match kind {
            Kind::User => ("user_update", Some(name)),
            Kind::Group => ("group_update", None),
        };
        let detail = serde_json::json!({
            "name": name,
            "changes": { "external_id": { "from": owner.external_id, "to": external_id } },
        });
        super::audit(&mut tx, actor, event, None, user, detail).await?;
    }
    tx.commit().await?;
    Ok(())
}
