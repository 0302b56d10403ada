//! Group operations: create, delete, add and remove members.

use serde_json::json;

use super::names::GroupName;
use super::{audit, users, Actor, DirectoryError, Group};
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
}

pub async fn show(db: &Db, name: &str) -> Result<GroupDetail, DirectoryError> {
    let mut conn = db.read().await?;
    let group = find(&mut conn, name).await?;
    let member_names = groups::member_names(&mut conn, group.id).await?;
    let apps = crate::store::apps::bound_app_slugs(&mut conn, group.id).await?;
    Ok(GroupDetail {
        group,
        member_names,
        apps,
    })
}

pub async fn add(
    db: &Db,
    actor: &Actor,
    name: &str,
    description: &str,
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
    groups::insert(&mut tx, name.as_str(), &name.key(), &description).await?;
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
    let description = super::names::text("description", description, 500)?;
    let mut tx = db.begin().await?;
    let group = find(&mut tx, name).await?;
    if group.description != description {
        groups::set_description(&mut tx, group.id, &description).await?;
        audit(
            &mut tx,
            actor,
            "group_update",
            None,
            None,
            json!({ "group": group.name, "description": { "from": group.description, "to": description } }),
        )
        .await?;
    }
    let group = find(&mut tx, name).await?;
    tx.commit().await?;
    Ok(group)
}

pub async fn delete(db: &Db, actor: &Actor, name: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let group = find(&mut tx, name).await?;
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
