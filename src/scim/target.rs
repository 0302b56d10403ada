//! Per-app Identity Management configuration (PRODUCT §3.4): connector profile, base URL,
//! credentials (sealed), attribute exclusions, deprovision action, state. Every change is an
//! `idm_integration_*` event; changing credentials is a hot swap (`idm_integration_reauth`)
//! that keeps every link and queued job.

use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Auth, Client};
use super::mapping;
use super::secret::{SealKey, Secret};
use crate::directory::{apps, audit, Actor, App, DirectoryError};
use crate::store::scim::{self as store, TargetRow};
use crate::store::{now_ms, Conn, Db};

/// A connector profile: defaults and the target's known limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connector {
    pub name: &'static str,
    pub default_url: Option<&'static str>,
    pub basic_auth: bool,
    /// The longest userName the target accepts (BlueJeans: 30).
    pub max_username: Option<usize>,
}

pub const CONNECTORS: &[Connector] = &[
    Connector {
        name: "generic",
        default_url: None,
        basic_auth: false,
        max_username: None,
    },
    Connector {
        name: "bluejeans",
        default_url: Some("https://api.bluejeans.com/v2/scim"),
        basic_auth: false,
        max_username: Some(30),
    },
    Connector {
        name: "thousandeyes",
        default_url: None,
        basic_auth: false,
        max_username: None,
    },
    Connector {
        name: "jive",
        default_url: None,
        basic_auth: true,
        max_username: None,
    },
];

pub fn connector(name: &str) -> Result<&'static Connector, DirectoryError> {
    CONNECTORS.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<_> = CONNECTORS.iter().map(|c| c.name).collect();
        DirectoryError::Invalid(format!(
            "unknown connector {name:?} (choose one of: {})",
            names.join(", ")
        ))
    })
}

/// The credential a target takes.
#[derive(Debug, Clone)]
pub enum Credential {
    Bearer(Secret),
    Basic(String, Secret),
}

/// Changes to a target; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub connector: Option<String>,
    pub credential: Option<Credential>,
    pub deprovision: Option<String>,
    pub push_groups: Option<bool>,
    /// Pause when more than this many accounts would be deprovisioned within an hour (0: off).
    pub deletion_threshold: Option<i64>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    pub restore_defaults: bool,
}

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

fn context(app_id: i64) -> String {
    format!("scim-target:{app_id}")
}

fn check_url(u: &str) -> Result<String, DirectoryError> {
    let parsed = url::Url::parse(u).map_err(|_| {
        invalid(format!(
            "SCIM URL {u:?} is not an absolute URL (like https://api.example.com/scim/v2)"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid(format!(
            "SCIM URL {u:?} must be an http(s) URL with a host"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "put the credentials in the token or basic-user fields (--token-stdin or --basic-user), not in the URL",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(format!(
            "SCIM URL {u:?} must not have a query or fragment"
        )));
    }
    Ok(u.trim_end_matches('/').to_string())
}

pub fn excluded(row: &TargetRow) -> Vec<String> {
    serde_json::from_str(&row.excluded).unwrap_or_default()
}

fn new_row(app: &App) -> TargetRow {
    let connector = connector(&app.template).map_or("generic", |c| c.name);
    TargetRow {
        app_id: app.id,
        connector: connector.to_string(),
        base_url: String::new(),
        auth: "bearer".into(),
        basic_user: String::new(),
        secret: String::new(),
        excluded: "[]".into(),
        deprovision: "deactivate".into(),
        push_groups: 0,
        deletion_threshold: 0,
        state: "inactive".into(),
        state_reason: String::new(),
        failures: 0,
        last_sync_at: 0,
        updated_at: 0,
        approved_until: 0,
        paused_until: 0,
    }
}

/// The app and its target row (a fresh, inactive one when never configured).
pub async fn get(conn: &mut Conn, slug: &str) -> Result<(App, TargetRow, bool), DirectoryError> {
    let app = apps::find(conn, slug).await?;
    match store::target(conn, app.id).await? {
        Some(row) => Ok((app, row, true)),
        None => {
            let row = new_row(&app);
            Ok((app, row, false))
        }
    }
}

/// What `scim show` and events print: the settings, never the credential.
pub fn describe(row: &TargetRow) -> Value {
    json!({
        "connector": row.connector,
        "url": row.base_url,
        "auth": row.auth,
        "basic_user": row.basic_user,
        "credential": if row.secret.is_empty() { "not set" } else { "set (write-only)" },
        "excluded": excluded(row),
        "deprovision": row.deprovision,
        "push_groups": row.push_groups != 0,
        "deletion_threshold": row.deletion_threshold,
        "state": row.state,
        "state_reason": row.state_reason,
    })
}

pub async fn update(
    db: &Db,
    key: &SealKey,
    actor: &Actor,
    slug: &str,
    c: &Changes,
) -> Result<TargetRow, DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, before, _) = get(&mut tx, slug).await?;
    let mut row = before.clone();
    if let Some(name) = &c.connector {
        row.connector = connector(name)?.name.to_string();
    }
    let profile = connector(&row.connector)?;
    if let Some(u) = &c.url {
        row.base_url = check_url(u)?;
    } else if row.base_url.is_empty() {
        if let Some(u) = profile.default_url {
            row.base_url = u.to_string();
        }
    }
    let reauth = c.credential.is_some();
    match &c.credential {
        Some(Credential::Bearer(t)) => {
            if t.is_empty() {
                return Err(invalid("the token is empty"));
            }
            row.auth = "bearer".into();
            row.basic_user = String::new();
            row.secret = seal(key, t, app.id)?;
        }
        Some(Credential::Basic(user, p)) => {
            if user.is_empty() || p.is_empty() {
                return Err(invalid("basic authentication needs a user and a password"));
            }
            row.auth = "basic".into();
            row.basic_user = user.clone();
            row.secret = seal(key, p, app.id)?;
        }
        None => {}
    }
    if let Some(d) = &c.deprovision {
        if !matches!(d.as_str(), "deactivate" | "delete") {
            return Err(invalid(format!(
                "deprovision {d:?} must be deactivate or delete"
            )));
        }
        row.deprovision = d.clone();
    }
    if let Some(p) = c.push_groups {
        row.push_groups = i64::from(p);
    }
    if let Some(n) = c.deletion_threshold {
        if !(0..=1_000_000).contains(&n) {
            return Err(invalid(
                "the deletion threshold must be 0 (off) or a count of accounts",
            ));
        }
        row.deletion_threshold = n;
    }
    let mut ex = if c.restore_defaults {
        Vec::new()
    } else {
        excluded(&row)
    };
    for name in &c.exclude {
        let p = mapping::optional(name)?.to_string();
        if !ex.contains(&p) {
            ex.push(p);
        }
    }
    for name in &c.include {
        let p = mapping::optional(name)?;
        ex.retain(|e| e != p);
    }
    ex.sort();
    row.excluded = serde_json::to_string(&ex).unwrap_or_else(|_| "[]".into());
    if row.base_url.is_empty() {
        return Err(invalid(format!(
            "the {} connector has no default URL: give --url",
            row.connector
        )));
    }
    if row != before {
        store::put_target(&mut tx, &row).await?;
        let name = if reauth {
            "idm_integration_reauth"
        } else {
            "idm_integration_update"
        };
        audit(
            &mut tx,
            actor,
            name,
            Some(slug),
            None,
            json!({ "settings": describe(&row) }),
        )
        .await?;
        // New exclusions or a new mapping change what every linked user should look like.
        let remap = row.excluded != before.excluded || row.push_groups != before.push_groups;
        if remap && row.state != "inactive" {
            store::enqueue_app(&mut tx, app.id).await?;
        }
    }
    tx.commit().await?;
    Ok(row)
}

fn seal(key: &SealKey, s: &Secret, app_id: i64) -> Result<String, DirectoryError> {
    key.seal(s, &context(app_id))
        .map_err(|e| DirectoryError::Invalid(e.to_string()))
}

/// Sets the state with an event; activation (and resuming) queues a full sync.
pub async fn set_state(
    db: &Db,
    actor: &Actor,
    slug: &str,
    action: &str,
) -> Result<TargetRow, DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, mut row, exists) = get(&mut tx, slug).await?;
    if !exists || row.secret.is_empty() {
        return Err(invalid(format!(
            "set up Identity Management first: a base URL and a credential (the console's settings form, or sesame scim set {slug} --url <base-url> --token-stdin)"
        )));
    }
    let (state, event) = match action {
        "activate" => ("active", "idm_integration_activate"),
        "deactivate" => ("inactive", "idm_integration_update"),
        "resume" => ("active", "idm_integration_update"),
        _ => return Err(invalid(format!("unknown action {action}"))),
    };
    if action == "resume" && row.state == "inactive" {
        return Err(invalid("the integration is not active: use activate"));
    }
    store::set_state(&mut tx, app.id, state, "").await?;
    if state == "active" {
        // This full sync counts as the latest reconciliation (the schedule starts now).
        store::enqueue_app(&mut tx, app.id).await?;
        store::release_all(&mut tx, app.id).await?;
        store::mark_synced(&mut tx, app.id).await?;
    }
    row.state = state.into();
    row.state_reason = String::new();
    audit(
        &mut tx,
        actor,
        event,
        Some(slug),
        None,
        json!({ "action": action, "state": state }),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// How long an approval of deprovisioning past the threshold lasts.
pub const APPROVAL_MS: i64 = 60 * 60 * 1000;

/// The app whose target is paused by the deletion threshold, or why not.
async fn paused(conn: &mut Conn, slug: &str) -> Result<App, DirectoryError> {
    let (app, row, exists) = get(conn, slug).await?;
    if !exists || row.state != "paused" {
        return Err(invalid(format!(
            "{slug} has no deprovisioning batch waiting for approval"
        )));
    }
    Ok(app)
}

/// Approves a paused deprovisioning batch: deprovisioning may pass the threshold for an
/// hour, and the target runs again.
pub async fn approve(db: &Db, actor: &Actor, slug: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let app = paused(&mut tx, slug).await?;
    store::approve(&mut tx, app.id, now_ms() + APPROVAL_MS).await?;
    store::release_all(&mut tx, app.id).await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_update",
        Some(slug),
        None,
        json!({ "action": "approve" }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rejects a paused batch: the queued jobs of users out of scope are dropped (their
/// accounts stay as they are) and the target runs again; the rest of the queue is kept.
pub async fn reject(db: &Db, actor: &Actor, slug: &str) -> Result<u64, DirectoryError> {
    let mut tx = db.begin().await?;
    let app = paused(&mut tx, slug).await?;
    let in_scope = crate::directory::access::users_of(&mut tx, app.id).await?;
    let queued = store::queued_users(&mut tx, app.id).await?;
    let leaving: Vec<i64> = queued
        .into_iter()
        .filter(|u| !in_scope.contains(u))
        .collect();
    let n = store::drop_jobs(&mut tx, app.id, &leaving).await?;
    store::set_state(&mut tx, app.id, "active", "").await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_update",
        Some(slug),
        None,
        json!({ "action": "reject", "dropped": n }),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Removes the integration: its settings, links and queued jobs.
pub async fn delete(db: &Db, actor: &Actor, slug: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, _, exists) = get(&mut tx, slug).await?;
    if !exists {
        return Err(DirectoryError::NotFound(format!(
            "{slug} has no Identity Management set up"
        )));
    }
    store::delete_target(&mut tx, app.id).await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_delete",
        Some(slug),
        None,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A target ready to talk to: decrypted credentials in a client.
#[derive(Debug, Clone)]
pub struct Live {
    pub app: App,
    pub row: TargetRow,
    pub connector: &'static Connector,
    pub excluded: Vec<String>,
    pub client: Client,
}

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn live(conn: &mut Conn, key: &SealKey, slug: &str) -> Result<Live, DirectoryError> {
    let (app, row, exists) = get(conn, slug).await?;
    if !exists {
        return Err(DirectoryError::NotFound(format!(
            "{slug} has no Identity Management set up"
        )));
    }
    let secret = key
        .open(&row.secret, &context(app.id))
        .map_err(|e| invalid(e.to_string()))?;
    let auth = if row.auth == "basic" {
        Auth::Basic(row.basic_user.clone(), secret)
    } else {
        Auth::Bearer(secret)
    };
    Ok(Live {
        connector: connector(&row.connector)?,
        excluded: excluded(&row),
        client: Client::new(&row.base_url, auth, TIMEOUT),
        app,
        row,
    })
}
