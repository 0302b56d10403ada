//! User operations: create, edit, suspend/activate, delete, set a password. Each validates
//! its input first, runs in one transaction and writes one audit event.

use serde_json::json;

use super::names::{text, Email, Username};
use super::owner::{self, Change};
use super::{audit, Actor, DirectoryError, User};
use crate::auth::password::{self, Password};
use crate::auth::throttle::account_key;
use crate::store::inbound::{self, Kind};
use crate::store::scim;
use crate::store::users::{self, NewUser, Profile};
use crate::store::{now_ms, throttle, Conn, Db};

/// Profile fields as typed by an admin; `None` leaves a field as it is, `Some("")` clears it
/// (except the email, which is required). `manager` is a username.
#[derive(Debug, Clone, Default)]
pub struct UserFields {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub employee_id: Option<String>,
    pub manager: Option<String>,
    pub department: Option<String>,
    pub cost_center: Option<String>,
    pub location: Option<String>,
    pub is_admin: Option<bool>,
}

/// The username as events record it, for a name typed in any case (usernames compare
/// case-insensitively); the text as typed when no user has it (a deleted or unknown one).
pub async fn recorded_name(db: &Db, typed: &str) -> Result<String, DirectoryError> {
    let typed = typed.trim();
    if typed.len() > 256 {
        return Ok(typed.to_string());
    }
    let mut conn = db.read().await?;
    Ok(users::by_key(&mut conn, &typed.to_lowercase())
        .await?
        .map_or_else(|| typed.to_string(), |u| u.username))
}

pub async fn get(db: &Db, username: &str) -> Result<User, DirectoryError> {
    let mut conn = db.read().await?;
    find(&mut conn, username).await
}

pub async fn list(db: &Db) -> Result<Vec<User>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(users::list(&mut conn).await?)
}

/// The users matching a search box (username, email, names).
pub async fn search(db: &Db, q: &str) -> Result<Vec<User>, DirectoryError> {
    let mut all = list(db).await?;
    all.retain(|u| super::matches(q, &[&u.username, &u.email, &u.first_name, &u.last_name]));
    Ok(all)
}

pub(crate) async fn find(conn: &mut Conn, username: &str) -> Result<User, DirectoryError> {
    users::by_key(conn, &username.to_ascii_lowercase())
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("no user named {username:?}")))
}

/// Applies `f` over `base`, validating every field that is given.
async fn merge_profile(
    conn: &mut Conn,
    base: Profile,
    f: &UserFields,
    self_id: i64,
) -> Result<Profile, DirectoryError> {
    let mut p = base;
    if let Some(e) = &f.email {
        p.email = Email::parse(e)?.as_str().to_string();
    }
    let fields = [
        (&f.first_name, &mut p.first_name, "first name", 100),
        (&f.last_name, &mut p.last_name, "last name", 100),
        (&f.title, &mut p.title, "title", 200),
        (&f.phone, &mut p.phone, "phone", 50),
        (&f.employee_id, &mut p.employee_id, "employee id", 100),
        (&f.department, &mut p.department, "department", 200),
        (&f.cost_center, &mut p.cost_center, "cost center", 100),
        (&f.location, &mut p.location, "location", 200),
    ];
    for (given, slot, name, max) in fields {
        if let Some(v) = given {
            *slot = text(name, v, max)?;
        }
    }
    if let Some(m) = &f.manager {
        p.manager_id = if m.is_empty() {
            None
        } else {
            let manager = find(conn, m)
                .await
                .map_err(|_| DirectoryError::NotFound(format!("manager {m:?} is not a user")))?;
            if manager.id == self_id {
                return Err(DirectoryError::Invalid(
                    "a user cannot be their own manager".into(),
                ));
            }
            Some(manager.id)
        };
    }
    if users::email_taken(conn, &p.email.to_lowercase(), self_id).await? {
        return Err(DirectoryError::Duplicate(format!(
            "email {:?} is already used by another user",
            p.email
        )));
    }
    Ok(p)
}

/// Whether `username` with `fields` could be created now (the checks of `create`, nothing
/// written): the CSV import's dry run.
pub async fn check_new(
    conn: &mut Conn,
    username: &str,
    fields: &UserFields,
) -> Result<(), DirectoryError> {
    let username = Username::parse(username)?;
    if fields.email.as_deref().unwrap_or("").is_empty() {
        return Err(DirectoryError::Invalid("an email is required".into()));
    }
    if users::by_key(conn, &username.key()).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "username {:?} is already taken",
            username.as_str()
        )));
    }
    merge_profile(conn, Profile::default(), fields, 0).await?;
    Ok(())
}

/// Creates a user with a final password (the user's own, or none: then the user cannot
/// sign in until one is set).
pub async fn add(
    db: &Db,
    actor: &Actor,
    username: &str,
    fields: &UserFields,
    password: Option<&Password>,
) -> Result<User, DirectoryError> {
    add_with(db, actor, username, fields, password, false).await
}

/// Creates a user. A `temporary` password (one an admin chose for someone else: the
/// console's and the API's default) must be changed at first sign-in; all in one
/// transaction. Every surface creates users through here, so they agree.
pub async fn add_with(
    db: &Db,
    actor: &Actor,
    username: &str,
    fields: &UserFields,
    password: Option<&Password>,
    temporary: bool,
) -> Result<User, DirectoryError> {
    if let Some(p) = password {
        password::check_for(p, username)?;
    }
    create(db, actor, username, fields, password, temporary, None).await
}

/// Creates a user owned by inbound SCIM source `source_id` (recorded in the same
/// transaction), with the source's `external_id`. The user has no password.
pub async fn add_owned(
    db: &Db,
    actor: &Actor,
    (source_id, external_id): (i64, &str),
    username: &str,
    fields: &UserFields,
) -> Result<User, DirectoryError> {
    let owner = Some((source_id, external_id));
    create(db, actor, username, fields, None, false, owner).await
}

/// Creates the user, the password already judged (the first admin's comes from the
/// operator's environment, for an account named `admin`, and is not judged by the username
/// rule: refusing it would stop sesame from starting).
async fn create(
    db: &Db,
    actor: &Actor,
    username: &str,
    fields: &UserFields,
    password: Option<&Password>,
    temporary: bool,
    owner: Option<(i64, &str)>,
) -> Result<User, DirectoryError> {
    let username = Username::parse(username)?;
    if fields.email.is_none() {
        return Err(DirectoryError::Invalid(
            "an email is required (--email)".into(),
        ));
    }
    let hash = match password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    if users::by_key(&mut tx, &username.key()).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "username {:?} is already taken",
            username.as_str()
        )));
    }
    let profile = merge_profile(&mut tx, Profile::default(), fields, 0).await?;
    let id = users::insert(
        &mut tx,
        NewUser {
            username: username.as_str(),
            username_key: &username.key(),
            profile: &profile,
            is_admin: fields.is_admin.unwrap_or(false),
            must_change_password: temporary && hash.is_some(),
            password_hash: hash.as_deref(),
        },
    )
    .await
    .map_err(|e| duplicate_or(e, &username))?;
    let user = users::by_id(&mut tx, id)
        .await?
        .ok_or_else(|| DirectoryError::NotFound("user vanished".into()))?;
    if let Some((source_id, external_id)) = owner {
        inbound::set_owner(&mut tx, Kind::User, id, source_id, external_id).await?;
    }
    // Apps that provision everyone take the new user at once (scope "all").
    scim::enqueue_new_user(&mut tx, id).await?;
    audit(
        &mut tx,
        actor,
        "user_create",
        None,
        Some(username.as_str()),
        json!({ "user": profile_json(&user) }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

fn duplicate_or(e: crate::store::StoreError, username: &Username) -> DirectoryError {
    if e.is_unique_violation() {
        DirectoryError::Duplicate(format!(
            "username {:?} or its email is already taken",
            username.as_str()
        ))
    } else {
        e.into()
    }
}

fn profile_json(u: &User) -> serde_json::Value {
    json!({
        "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
        "title": u.title, "phone": u.phone, "employee_id": u.employee_id,
        "manager": u.manager, "department": u.department, "cost_center": u.cost_center,
        "location": u.location, "is_admin": u.is_admin,
    })
}

/// Edits profile fields; the event lists each changed field with its old and new value.
pub async fn update(
    db: &Db,
    actor: &Actor,
    username: &str,
    fields: &UserFields,
) -> Result<User, DirectoryError> {
    let mut tx = db.begin().await?;
    let before = find(&mut tx, username).await?;
    owner::guard(
        &mut tx,
        actor,
        Kind::User,
        before.id,
        &before.username,
        Change::Profile,
    )
    .await?;
    let base = Profile {
        email: before.email.clone(),
        first_name: before.first_name.clone(),
        last_name: before.last_name.clone(),
        title: before.title.clone(),
        phone: before.phone.clone(),
        employee_id: before.employee_id.clone(),
        manager_id: users::manager_id(&mut tx, before.id).await?,
        department: before.department.clone(),
        cost_center: before.cost_center.clone(),
        location: before.location.clone(),
    };
    let profile = merge_profile(&mut tx, base, fields, before.id).await?;
    if let Some(admin) = fields.is_admin {
        if !admin && before.is_admin {
            ensure_not_last_admin(&mut tx, &before).await?;
        }
        users::set_admin(&mut tx, before.id, admin).await?;
    }
    users::update_profile(&mut tx, before.id, &profile).await?;
    let after = find(&mut tx, username).await?;
    let (old, new) = (profile_json(&before), profile_json(&after));
    let changes: serde_json::Map<_, _> = new
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| old.get(k.as_str()) != Some(v))
        .map(|(k, v)| (k.clone(), json!({ "from": old[k.as_str()], "to": v })))
        .collect();
    if !changes.is_empty() {
        scim::enqueue_user(&mut tx, after.id).await?;
        audit(
            &mut tx,
            actor,
            "user_update",
            None,
            Some(&after.username),
            json!({ "changes": changes }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

async fn ensure_not_last_admin(conn: &mut Conn, user: &User) -> Result<(), DirectoryError> {
    if user.is_admin && users::other_active_admins(conn, user.id).await? == 0 {
        return Err(DirectoryError::Invalid(format!(
            "{:?} is the only active admin; make another admin first",
            user.username
        )));
    }
    Ok(())
}

/// Suspends (`active == false`) or reactivates a user. Suspension takes effect at once:
/// the user's sessions stop working on their next request.
pub async fn set_active(
    db: &Db,
    actor: &Actor,
    username: &str,
    active: bool,
) -> Result<User, DirectoryError> {
    let mut tx = db.begin().await?;
    let user = find(&mut tx, username).await?;
    owner::guard(
        &mut tx,
        actor,
        Kind::User,
        user.id,
        &user.username,
        Change::Status,
    )
    .await?;
    if user.active != active {
        if !active {
            ensure_not_last_admin(&mut tx, &user).await?;
        }
        users::set_status(&mut tx, user.id, active).await?;
        scim::enqueue_user(&mut tx, user.id).await?;
        let name = if active {
            "user_activate"
        } else {
            "user_suspend"
        };
        audit(&mut tx, actor, name, None, Some(&user.username), json!({})).await?;
    }
    let user = find(&mut tx, username).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn delete(db: &Db, actor: &Actor, username: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let user = find(&mut tx, username).await?;
    owner::guard(
        &mut tx,
        actor,
        Kind::User,
        user.id,
        &user.username,
        Change::Delete,
    )
    .await?;
    ensure_not_last_admin(&mut tx, &user).await?;
    inbound::forget(&mut tx, Kind::User, user.id).await?;
    // Queued first: the job outlives the user row and tells each target (SECURITY 15).
    scim::enqueue_user(&mut tx, user.id).await?;
    users::delete(&mut tx, user.id).await?;
    audit(
        &mut tx,
        actor,
        "user_delete",
        None,
        Some(&user.username),
        json!({ "user": profile_json(&user) }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a password (hashed off the async threads). `must_change` makes the portal ask the
/// user for a new one at the next login, as for a first-start admin. Targets with password
/// sync get it once (`scim::password`, sealed with `key` until sent).
pub async fn set_password(
    db: &Db,
    key: &crate::scim::secret::SealKey,
    actor: &Actor,
    username: &str,
    password: &Password,
    must_change: bool,
) -> Result<(), DirectoryError> {
    password::check_for(password, username)?;
    let hash = password::hash(password).await?;
    let mut tx = db.begin().await?;
    let user = find(&mut tx, username).await?;
    users::set_password(&mut tx, user.id, &hash, must_change).await?;
    let synced = crate::scim::password::queue(&mut tx, key, user.id, password).await?;
    // A new password ends every session, a half-finished sign-in included (someone may have
    // had the old one); the user's own browser gets a new session at once (web/account.rs).
    let ended = crate::store::sessions::end_all(&mut tx, user.id, None).await?;
    audit(
        &mut tx,
        actor,
        "user_password_change",
        None,
        Some(&user.username),
        json!({ "sessions_ended": ended, "password_sync_targets": synced }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the first admin when there is none (first start). Returns the username when
/// one was created.
pub async fn ensure_admin(
    db: &Db,
    password: &Password,
    must_change: bool,
) -> Result<Option<String>, DirectoryError> {
    let mut conn = db.read().await?;
    if users::count_admins(&mut conn).await? > 0 {
        return Ok(None);
    }
    drop(conn);
    let fields = UserFields {
        email: Some("admin@localhost".into()),
        first_name: Some("Admin".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    // Someone may have taken "admin" for a regular user before the first `serve`.
    let user = match create(
        db,
        &Actor::system(),
        "admin",
        &fields,
        Some(password),
        false,
        None,
    )
    .await
    {
        Err(DirectoryError::Duplicate(_)) => {
            let fields = UserFields {
                email: Some("sesame-admin@localhost".into()),
                ..fields
            };
            create(
                db,
                &Actor::system(),
                "sesame-admin",
                &fields,
                Some(password),
                false,
                None,
            )
            .await?
        }
        other => other?,
    };
    if must_change {
        let mut conn = db.write().await?;
        users::require_password_change(&mut conn, user.id).await?;
    }
    Ok(Some(user.username))
}

/// A user with their groups and the apps they may use (by slug).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: User,
    pub groups: Vec<String>,
    pub apps: Vec<String>,
    /// The apps the user is assigned to directly (slugs; besides the groups').
    pub assigned: Vec<String>,
    /// When the user last signed in (unix ms), if ever.
    pub last_sign_in: Option<i64>,
    /// Whether a password is set (none: no password sign-in until one is).
    pub password_set: bool,
    /// Until when sign-in is locked after repeated failures (unix ms), while it is.
    pub locked_until: Option<i64>,
    /// The user's second factors.
    pub mfa: crate::auth::mfa::Factors,
    /// The inbound SCIM source that created the user and alone may change it.
    pub managed_by: Option<String>,
}

pub async fn show(db: &Db, username: &str) -> Result<UserDetail, DirectoryError> {
    let mut conn = db.read().await?;
    let user = find(&mut conn, username).await?;
    let groups = crate::store::groups::names_of_user(&mut conn, user.id).await?;
    let apps = super::access::apps_for(&mut conn, user.id)
        .await?
        .into_iter()
        .map(|a| a.slug)
        .collect();
    let assigned = crate::store::apps::assigned_app_slugs(&mut conn, user.id).await?;
    let last_sign_in = crate::store::events::last_sign_in(&mut conn, &user.username).await?;
    let password_set = users::has_password(&mut conn, user.id).await?;
    let locked_until = throttle::get(&mut conn, &account_key(&user.username))
        .await?
        .map(|c| c.locked_until)
        .filter(|until| *until > now_ms());
    let mfa = crate::auth::mfa::factors_on(&mut conn, user.id).await?;
    let managed_by = inbound::owner(&mut conn, Kind::User, user.id)
        .await?
        .map(|o| o.source);
    Ok(UserDetail {
        user,
        groups,
        apps,
        assigned,
        last_sign_in,
        password_set,
        locked_until,
        mfa,
        managed_by,
    })
}

/// Ends every session of a user (an admin's "sign out everywhere"; suspending does it too,
/// on the next request). Returns how many there were; an event either way.
pub async fn sign_out_everywhere(
    db: &Db,
    actor: &Actor,
    username: &str,
) -> Result<u64, DirectoryError> {
    let mut tx = db.begin().await?;
    let user = find(&mut tx, username).await?;
    let ended = crate::store::sessions::end_all(&mut tx, user.id, None).await?;
    let detail = json!({ "sessions_ended": ended });
    audit(
        &mut tx,
        actor,
        "user_sign_out",
        None,
        Some(&user.username),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Records that a user ended some of their own sessions.
pub async fn record_sign_out(
    db: &Db,
    actor: &Actor,
    username: &str,
    ended: u64,
) -> Result<(), DirectoryError> {
    let mut conn = db.write().await?;
    let detail = json!({ "sessions_ended": ended });
    audit(
        &mut conn,
        actor,
        "session_end",
        None,
        Some(username),
        detail,
    )
    .await
}

/// Lifts the lock that repeated failed sign-ins put on the account (the client address's
/// own lock stays). True when the account was locked. An event either way.
pub async fn unlock(db: &Db, actor: &Actor, username: &str) -> Result<bool, DirectoryError> {
    let mut tx = db.begin().await?;
    let user = find(&mut tx, username).await?;
    let key = account_key(&user.username);
    let was_locked = throttle::get(&mut tx, &key)
        .await?
        .is_some_and(|c| c.locked_until > now_ms());
    throttle::clear(&mut tx, &key).await?;
    audit(
        &mut tx,
        actor,
        "user_unlock",
        None,
        Some(&user.username),
        json!({ "was_locked": was_locked }),
    )
    .await?;
    tx.commit().await?;
    Ok(was_locked)
}
