//! SCIM Users (RFC 7643 §4.1, enterprise extension §4.3) ↔ sesame users, through the
//! directory's own operations (`directory::users`), so every change is the same change an
//! admin makes: one transaction with its audit event (actor `scim:<source>`) and its
//! provisioning jobs, and deactivation is the suspend path (sessions end, apps deprovision).
//!
//! Mapping: `id` is sesame's numeric user id; `userName` ↔ username (not changeable);
//! `name.givenName`/`familyName`; the primary (else work, else first) of `emails` ↔ email;
//! `active` ↔ active/suspended; `title`; the work (else first) of `phoneNumbers` ↔ phone;
//! `externalId` is kept beside the owning source (never shown for users a source did not
//! create); enterprise `employeeNumber` ↔ employee id; enterprise `manager.value` (a SCIM
//! id) ↔ manager.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::filter::{Filter, Op};
use super::json::{boolean, get_ci, string};
use super::list::Query;
use super::{patch, ScimError, Source, ENTERPRISE_SCHEMA, USER_SCHEMA};
use crate::directory::owner;
use crate::directory::users::{self as dir, UserFields};
use crate::directory::User;
use crate::store::inbound::{self, Kind, Owner};
use crate::store::{users, Conn, Db};

pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The SCIM resource for `u`.
pub fn to_scim(u: &User, owner: Option<&Owner>, manager_id: Option<i64>, base: &str) -> Value {
    let mut v = Map::new();
    v.insert("schemas".into(), json!([USER_SCHEMA, ENTERPRISE_SCHEMA]));
    v.insert("id".into(), json!(u.id.to_string()));
    if let Some(o) = owner.filter(|o| !o.external_id.is_empty()) {
        v.insert("externalId".into(), json!(o.external_id));
    }
    v.insert("userName".into(), json!(u.username));
    let mut name = Map::new();
    for (k, val) in [("givenName", &u.first_name), ("familyName", &u.last_name)] {
        if !val.is_empty() {
            name.insert(k.into(), json!(val));
        }
    }
    if !name.is_empty() {
        v.insert("name".into(), Value::Object(name));
    }
    if !u.title.is_empty() {
        v.insert("title".into(), json!(u.title));
    }
    v.insert("active".into(), json!(u.active));
    v.insert(
        "emails".into(),
        json!([{ "value": u.email, "type": "work", "primary": true }]),
    );
    if !u.phone.is_empty() {
        v.insert(
            "phoneNumbers".into(),
            json!([{ "value": u.phone, "type": "work" }]),
        );
    }
    let mut ext = Map::new();
    if !u.employee_id.is_empty() {
        ext.insert("employeeNumber".into(), json!(u.employee_id));
    }
    if let Some(m) = manager_id {
        ext.insert(
            "manager".into(),
            json!({ "value": m.to_string(), "$ref": format!("{base}/Users/{m}") }),
        );
    }
    if !ext.is_empty() {
        v.insert(ENTERPRISE_SCHEMA.into(), Value::Object(ext));
    }
    v.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": time(u.created_at),
            "lastModified": time(u.updated_at),
            "location": format!("{base}/Users/{}", u.id),
        }),
    );
    Value::Object(v)
}

/// What a resource asks for, read leniently (RFC 7643 §2.1: names are case-insensitive).
#[derive(Debug, Default)]
pub struct UserInput {
    pub username: String,
    pub fields: UserFields,
    pub active: Option<bool>,
    pub external_id: Option<String>,
}

/// The element of a multi-valued attribute to take: primary, else `type`, else the first.
fn pick<'a>(v: &'a Value, attr: &str, prefer: &str) -> Result<Option<&'a Value>, ScimError> {
    let items = match get_ci(v, attr) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::invalid_value(format!("{attr} must be an array"))),
    };
    let primary = items
        .iter()
        .find(|e| boolean(e, "primary").ok().flatten() == Some(true));
    let typed = items.iter().find(|e| {
        get_ci(e, "type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(prefer))
    });
    Ok(primary.or(typed).or(items.first()))
}

async fn read(conn: &mut Conn, v: &Value) -> Result<UserInput, ScimError> {
    let username =
        string(v, "userName")?.ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let text = |o: Option<String>| Some(o.unwrap_or_default());
    let name = get_ci(v, "name").cloned().unwrap_or(Value::Null);
    let email = match pick(v, "emails", "work")? {
        Some(e) => string(e, "value")?,
        None => None,
    };
    let phone = match pick(v, "phoneNumbers", "work")? {
        Some(e) => string(e, "value")?,
        None => None,
    };
    let ext = get_ci(v, ENTERPRISE_SCHEMA).cloned().unwrap_or(Value::Null);
    let manager_id = match get_ci(&ext, "manager") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(m) => string(m, "value")?,
    };
    let manager = match manager_id.filter(|m| !m.is_empty()) {
        None => String::new(),
        Some(id) => {
            let found = match id.parse::<i64>() {
                Ok(n) => users::by_id(conn, n).await?,
                Err(_) => None,
            };
            found
                .ok_or_else(|| ScimError::invalid_value(format!("manager {id:?} is not a user")))?
                .username
        }
    };
    Ok(UserInput {
        username,
        fields: UserFields {
            email,
            first_name: text(string(&name, "givenName")?),
            last_name: text(string(&name, "familyName")?),
            title: text(string(v, "title")?),
            phone: text(phone),
            employee_id: text(string(&ext, "employeeNumber")?),
            manager: Some(manager),
            department: None,
            cost_center: None,
            location: None,
            is_admin: None,
        },
        active: boolean(v, "active")?,
        external_id: string(v, "externalId")?,
    })
}

fn user_id(id: &str) -> Result<i64, ScimError> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("no user with id {id:?}")))
}

async fn load(db: &Db, id: i64, base: &str) -> Result<(User, Value), ScimError> {
    let mut conn = db.read().await?;
    let user = users::by_id(&mut conn, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no user with id {id}")))?;
    let owner = inbound::owner(&mut conn, Kind::User, id).await?;
    let manager = users::manager_id(&mut conn, id).await?;
    let v = to_scim(&user, owner.as_ref(), manager, base);
    Ok((user, v))
}

pub async fn get(db: &Db, id: &str, base: &str) -> Result<Value, ScimError> {
    Ok(load(db, user_id(id)?, base).await?.1)
}

/// The userName of a `userName eq "x"` filter: what Entra and Okta ask before every create,
/// answered with one look-up instead of a walk through the directory (userName compares
/// case-insensitively, RFC 7643 §4.1.1, as the directory's key does).
fn username_eq(q: &Query) -> Option<&str> {
    match &q.filter {
        Some(Filter::Compare(p, Op::Eq, Value::String(v)))
            if p.sub.is_none()
                && p.attr.eq_ignore_ascii_case("userName")
                && p.uri
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA)) =>
        {
            Some(v)
        }
        _ => None,
    }
}

pub async fn list(db: &Db, q: &Query, base: &str) -> Result<Value, ScimError> {
    if let Some(name) = username_eq(q) {
        let found = users::by_key(&mut *db.read().await?, &name.to_lowercase()).await?;
        let resources = match found {
            Some(u) => vec![load(db, u.id, base).await?.1],
            None => Vec::new(),
        };
        return Ok(q.list(resources));
    }
    let mut conn = db.read().await?;
    let mut all = users::list(&mut conn).await?;
    all.sort_by_key(|u| u.id);
    let owners: HashMap<i64, Owner> = inbound::owners(&mut conn, Kind::User)
        .await?
        .into_iter()
        .collect();
    let ids: HashMap<&str, i64> = all.iter().map(|u| (u.username.as_str(), u.id)).collect();
    let resources = all
        .iter()
        .map(|u| {
            let manager = u.manager.as_deref().and_then(|m| ids.get(m).copied());
            to_scim(u, owners.get(&u.id), manager, base)
        })
        .collect();
    Ok(q.list(resources))
}

/// POST /Users (RFC 7644 §3.3): the source owns the user it creates.
pub async fn create(
    db: &Db,
    source: &Source,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let input = read(&mut *db.read().await?, body).await?;
    let actor = source.actor();
    let fields = UserFields {
        is_admin: Some(false),
        ..input.fields
    };
    let ext = input.external_id.unwrap_or_default();
    let ext = crate::directory::names::text("externalId", &ext, 200)?;
    let user = dir::add_owned(db, &actor, (source.id, &ext), &input.username, &fields).await?;
    if input.active == Some(false) {
        dir::set_active(db, &actor, &user.username, false).await?;
    }
    Ok(load(db, user.id, base).await?.1)
}

/// PUT /Users/{id} (RFC 7644 §3.5.1): the resource as given; absent attributes are
/// cleared, except `active` and the email (required), which stay.
pub async fn replace(
    db: &Db,
    source: &Source,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let (user, _) = load(db, user_id(id)?, base).await?;
    let input = read(&mut *db.read().await?, body).await?;
    if !input.username.eq_ignore_ascii_case(&user.username) {
        return Err(ScimError::bad(
            "mutability",
            "userName cannot be changed in sesame (delete and create the user)",
        ));
    }
    let actor = source.actor();
    dir::update(db, &actor, &user.username, &input.fields).await?;
    if let Some(active) = input.active {
        dir::set_active(db, &actor, &user.username, active).await?;
    }
    // Absent is cleared, as PUT replaces the whole resource (RFC 7644 §3.5.1).
    let ext = input.external_id.unwrap_or_default();
    owner::set_external_id(db, &actor, Kind::User, (user.id, &user.username), &ext).await?;
    Ok(load(db, user.id, base).await?.1)
}

/// PATCH /Users/{id} (RFC 7644 §3.5.2): applied to the resource, then replaced.
pub async fn patch(
    db: &Db,
    source: &Source,
    id: &str,
    body: &Value,
    base: &str,
) -> Result<Value, ScimError> {
    let ops = patch::parse(body)?;
    let (user, mut current) = load(db, user_id(id)?, base).await?;
    patch::apply(&mut current, &ops)?;
    // Only a PATCH that touches `active` changes it: an admin's suspension of a managed
    // user stays until the source itself says otherwise.
    if boolean(&current, "active")? == Some(user.active) {
        if let Some(obj) = current.as_object_mut() {
            obj.retain(|k, _| !k.eq_ignore_ascii_case("active"));
        }
    }
    replace(db, source, id, &current, base).await
}

/// DELETE /Users/{id} (RFC 7644 §3.6): deprovisioned from the apps as any deletion is.
pub async fn delete(db: &Db, source: &Source, id: &str) -> Result<(), ScimError> {
    let id = user_id(id)?;
    let user = {
        let mut conn = db.read().await?;
        users::by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("no user with id {id}")))?
    };
    dir::delete(db, &source.actor(), &user.username).await?;
    Ok(())
}
