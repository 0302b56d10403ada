//! SCIM Groups (RFC 7643 §4.2) ↔ sesame groups through `directory::groups`: `id` is the
//! numeric group id, `displayName` ↔ the name (a change renames), `members` (user ids) ↔
//! memberships, each change its own audited operation with its provisioning jobs.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::json::{get_ci, string};
use super::list::Query;
use super::{patch, ScimError, Source, GROUP_SCHEMA};
use crate::directory::groups as dir;
use crate::directory::owner;
use crate::store::inbound::{self, Kind, Owner};
use crate::store::{groups, users, Conn, Db};

fn group_id(id: &str) -> Result<i64, ScimError> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("no group with id {id:?}")))
}

async fn members(conn: &mut Conn, group_id: i64) -> Result<Vec<(i64, String)>, ScimError> {
    Ok(inbound::members(conn, group_id).await?)
}

fn to_scim(
    g: &groups::Group,
    owner: Option<&Owner>,
    members: &[(i64, String)],
    base: &str,
) -> Value {
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id.to_string(),
        "displayName": g.name,
        "members": members.iter().map(|(id, name)| json!({
            "value": id.to_string(),
            "$ref": format!("{base}/Users/{id}"),
            "display": name,
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "location": format!("{base}/Groups/{}", g.id),
        },
    });
    if let Some(o) = owner.filter(|o| !o.external_id.is_empty()) {
        v["externalId"] = json!(o.external_id);
    }
    v
}

async fn load(db: &Db, id: i64, base: &str) -> Result<(groups::Group, Value), ScimError> {
    let mut conn = db.read().await?;
    let g = groups::by_id(&mut conn, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no group with id {id}")))?;
    let owner = inbound::owner(&mut conn, Kind::Group, id).await?;
    let m = members(&mut conn, id).await?;
    let v = to_scim(&g, owner.as_ref(), &m, base);
    Ok((g, v))
}

pub async fn get(db: &Db, id: &str, base: &str) -> Result<Value, ScimError> {
    Ok(load(db, group_id(id)?, base).await?.1)
}

pub async fn list(db: &Db, q: &Query, base: &str) -> Result<Value, ScimError> {
    let mut conn = db.read().await?;
    let mut all = groups::list(&mut conn).await?;
    all.sort_by_key(|g| g.id);
    let owners: HashMap<i64, Owner> = inbound::owners(&mut conn, Kind::Group)
        .await?
        .into_iter()
        .collect();
    let mut resources = Vec::with_capacity(all.len());
    for g in &all {
        let m = members(&mut conn, g.id).await?;
        resources.push(to_scim(g, owners.get(&g.id), &m, base));
    }
    Ok(q.list(resources))
}

/// The member ids a resource lists (`None`: no `members` attribute).
fn wanted_members(v: &Value) -> Result<Option<BTreeSet<i64>>, ScimError> {
    let items = match get_ci(v, "members") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::invalid_value("members must be an array")),
    };
    items
        .iter()
        .map(|m| {
            let id = string(m, "value")?
                .ok_or_else(|| ScimError::invalid_value("a member needs a value"))?;
            id.parse::<i64>()
                .map_err(|_| ScimError::invalid_value(format!("member {id:?} is not a user id")))
        })
        .collect::<Result<BTreeSet<i64>, _>>()
        .map(Some)
}

/// Brings the group's members to `want`, one audited change each.
async fn set_members(
    db: &Db,
    source: &Source,
    group: &str,
    group_id: i64,
    want: &BTreeSet<i64>,
) -> Result<(), ScimError> {
    let (have, names) = {
        let mut conn = db.read().await?;
        let have: BTreeSet<i64> = members(&mut conn, group_id)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut names = HashMap::new();
        for id in want.union(&have) {
            let u = users::by_id(&mut conn, *id)
                .await?
                .ok_or_else(|| ScimError::invalid_value(format!("member {id} is not a user")))?;
            names.insert(*id, u.username);
        }
        (have, names)
    };
    let actor = source.actor();
    for id in want.difference(&have) {
        dir::set_member(db, &actor, group, &names[id], true).await?;
    }
    for id in have.difference(want) {
        dir::set_member(db, &actor, group, &names[id], false).await?;
    }
    Ok(())
}

pub async fn create(
    db: &Db,
    source: &Source,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let name = string(body, "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let want = wanted_members(body)?;
    let ext = string(body, "externalId")?.unwrap_or_default();
    let ext = crate::directory::names::text("externalId", &ext, 200)?;
    let g = dir::add_owned(db, &source.actor(), (source.id, &ext), &name).await?;
    if let Some(want) = want {
        set_members(db, source, &g.name, g.id, &want).await?;
    }
    Ok(load(db, g.id, base).await?.1)
}

/// PUT /Groups/{id}: the name, the members (absent: none) and the externalId as given.
pub async fn replace(
    db: &Db,
    source: &Source,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let (g, _) = load(db, group_id(id)?, base).await?;
    let name = string(body, "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let want = wanted_members(body)?.unwrap_or_default();
    let actor = source.actor();
    let g = dir::rename(db, &actor, &g.name, &name).await?;
    set_members(db, source, &g.name, g.id, &want).await?;
    if let Some(ext) = string(body, "externalId")? {
        owner::set_external_id(db, &actor, Kind::Group, (g.id, &g.name), &ext).await?;
    }
    Ok(load(db, g.id, base).await?.1)
}

pub async fn patch(
    db: &Db,
    source: &Source,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let ops = patch::parse(body)?;
    let (_, mut current) = load(db, group_id(id)?, base).await?;
    patch::apply(&mut current, &ops)?;
    replace(db, source, id, &current, base).await
}

pub async fn delete(db: &Db, source: &Source, id: &str) -> Result<(), ScimError> {
    let id = group_id(id)?;
    let g = {
        let mut conn = db.read().await?;
        groups::by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("no group with id {id}")))?
    };
    dir::delete(db, &source.actor(), &g.name).await?;
    Ok(())
}
