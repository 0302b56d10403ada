//! Group operations: create, rename and describe, delete, add and remove members.

use serde_json::json;

use super::names::GroupName;
use super::owner::{self, Change};
use super::{audit, users, Actor, DirectoryError, Group};
use crate::store::inbound::{self, Kind};
use crate::store::scim;
use crate::store::{groups, Conn, Db};

pub async fn list(db: &Db) -> Result<Vec<Group>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(groups::list(&mut conn).await?)
}

/// The groups matching a search box (name, description).
pub async fn search(db: &Db, q: &str) -> Result<Vec<Group>, DirectoryError> {
    let mut all = list(db).await?;
    all.retain(|g| super::matches(q, &[&g.name, &g.description]));
    Ok(all)
}

pub(crate) async fn find(conn: &mut Conn, name: &str) -> Result<Group, DirectoryError> {
    groups::by_key(conn, &name.to_lowercase())
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("no group named {name:?}")))
}

/// A group with its members and the apps it is bound to.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: Group,
    pub member_names: Vec<String>,
    pub apps: Vec<String>,
    /// The inbound SCIM source that created the group and alone may change it.
    pub managed_by: Option<String>,
}

pub async fn show(db: &Db, name: &str) -> Result<GroupDetail, DirectoryError> {
    let mut conn = db.read().await?;
    let group = find(&mut conn, name).await?;
    let member_names = groups::member_names(&mut conn, group.id).await?;
    let apps = crate::store::apps::bound_app_slugs(&mut conn, group.id).await?;
    let managed_by = inbound::owner(&mut conn, Kind::Group, group.id)
        .await?
        .map(|o| o.source);
    Ok(GroupDetail {
        group,
        member_names,
        apps,
        managed_by,
    })
}

pub async fn add(
    db: &Db,
    actor: &Actor,
    name: &str,
    description: &str,
) -> Result<Group, DirectoryError> {
    create(db, actor, name, description, None).await
}

/// Creates a group owned by inbound SCIM source `source_id`, recorded in the same
/// transaction, with the source's `external_id`.
pub async fn add_owned(
    db: &Db,
    actor: &Actor,
    (source_id, external_id): (i64, &str),
    name: &str,
) -> Result<Group, DirectoryError> {
    create(db, actor, name, "", Some((source_id, external_id))).await
}

async fn create(
    db: &Db,
    actor: &Actor,
    name: &str,
    description: &str,
    owner: Option<(i64, &str)>,
) -> Result<Group, DirectoryError> {
    let name = GroupName::parse(name)?;
    let description = super::names::text("description", description, 500)?;
    let mut tx = db.begin().await?;
    if groups::by_key(&mut tx, &name.key()).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "group {:?} already exists",
            name.as_str()
        )));
    }
    let id = groups::insert(&mut tx, name.as_str(), &name.key(), &description).await?;
    if let Some((source_id, external_id)) = owner {
        inbound::set_owner(&mut tx, Kind::Group, id, source_id, external_id).await?;
    }
    audit(
        &mut tx,
        actor,
        "group_create",
        None,
        None,
        json!({ "group": name.as_str() }),
    )
    .await?;
    let group = find(&mut tx, name.as_str()).await?;
    tx.commit().await?;
    Ok(group)
}

/// Changes the description; the same text again writes no event.
pub async fn set_description(
    db: &Db,
    actor: &Actor,
    name: &str,
    description: &str,
) -> Result<Group, DirectoryError> {
    let c = GroupChanges {
        description: Some(description.to_string()),
        ..GroupChanges::default()
    };
    update(db, actor, name, &c).await
}

/// What an admin may change about a group; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Renames a group and/or changes its description, in one transaction (bindings and members
/// stay). A new name is queued for every target the group is pushed to, which sends the new
/// `displayName`. What is unchanged writes no event.
pub async fn update(
    db: &Db,
    actor: &Actor,
    name: &str,
    c: &GroupChanges,
) -> Result<Group, DirectoryError> {
    let new_name = c.name.as_deref().map(GroupName::parse).transpose()?;
    let description = c
        .description
        .as_deref()
        .map(|d| super::names::text("description", d, 500))
        .transpose()?;
    let mut tx = db.begin().await?;
    let group = find(&mut tx, name).await?;
    owner::guard(
        &mut tx,
        actor,
        Kind::Group,
        group.id,
        &group.name,
        Change::Profile,
    )
    .await?;
    if let Some(d) = description.filter(|d| *d != group.description) {
        groups::set_description(&mut tx, group.id, &d).await?;
        audit(
            &mut tx,
            actor,
            "group_update",
            None,
            None,
            json!({ "group": group.name, "description": { "from": group.description, "to": d } }),
        )
        .await?;
    }
    if let Some(n) = new_name.filter(|n| n.as_str() != group.name) {
        if let Some(other) = groups::by_key(&mut tx, &n.key()).await? {
            if other.id != group.id {
                return Err(DirectoryError::Duplicate(format!(
                    "group {:?} already exists",
                    n.as_str()
                )));
            }
        }
        groups::rename(&mut tx, group.id, n.as_str(), &n.key()).await?;
        scim::enqueue_group_push(&mut tx, group.id).await?;
        audit(
            &mut tx,
            actor,
            "group_rename",
            None,
            None,
            json!({ "group": { "from": group.name, "to": n.as_str() } }),
        )
        .await?;
    }
    let group = groups::by_id(&mut tx, group.id)
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("group {name:?} not found")))?;
    tx.commit().await?;
    Ok(group)
}

pub async fn delete(db: &Db, actor: &Actor, name: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let group = find(&mut tx, name).await?;
    owner::guard(
        &mut tx,
        actor,
        Kind::Group,
        group.id,
        &group.name,
        Change::Delete,
    )
    .await?;
    inbound::forget(&mut tx, Kind::Group, group.id).await?;
    let members = groups::member_names(&mut tx, group.id).await?;
    scim::enqueue_group(&mut tx, group.id, None).await?;
    scim::enqueue_group_push(&mut tx, group.id).await?;
    groups::delete(&mut tx, group.id).await?;
    audit(
        &mut tx,
        actor,
        "group_delete",
        None,
        None,
        json!({ "group": group.name, "members": members }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds (`member == true`) or removes a member. Doing what is already so is not an error
/// and writes no event.
pub async fn set_member(
    db: &Db,
    actor: &Actor,
    group: &str,
    username: &str,
    member: bool,
) -> Result<bool, DirectoryError> {
    let mut tx = db.begin().await?;
    let g = find(&mut tx, group).await?;
    owner::guard(&mut tx, actor, Kind::Group, g.id, &g.name, Change::Members).await?;
    let u = users::find(&mut tx, username).await?;
    let changed = if member {
        groups::add_member(&mut tx, g.id, u.id).await?
    } else {
        groups::remove_member(&mut tx, g.id, u.id).await?
    };
    if changed {
        scim::enqueue_user(&mut tx, u.id).await?;
        scim::enqueue_group_push(&mut tx, g.id).await?;
        let name = if member {
            "group_member_add"
        } else {
            "group_member_remove"
        };
        audit(
            &mut tx,
            actor,
            name,
            None,
            Some(&u.username),
            json!({ "group": g.name }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Renames a group (bindings and members stay; the bridge pushes the new name to targets
/// that receive groups). The same name again writes no event.
pub async fn rename(
    db: &Db,
    actor: &Actor,
    name: &str,
    new_name: &str,
) -> Result<Group, DirectoryError> {
    let c = GroupChanges {
        name: Some(new_name.to_string()),
        ..GroupChanges::default()
    };
    update(db, actor, name, &c).await
}
