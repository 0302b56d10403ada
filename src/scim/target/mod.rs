//! Per-app Identity Management configuration (PRODUCT §3.4): connector profile, base URL,
//! credentials (sealed), attribute exclusions, deprovision action, state. Every change is an
//! `idm_integration_*` event; changing credentials is a hot swap (`idm_integration_reauth`)
//! that keeps every link and queued job.
//!
//! Here: connector profiles, the settings and `live` (a target ready to talk to);
//! `state`: the states and the one transition table; `lifecycle`: activate, deactivate,
//! resume, approve, reject, remove; `options`: the auth kind and deprovision action;
//! `notice`: the mail sent when a target halts or runs again.

mod lifecycle;
pub mod notice;
mod options;
mod state;

pub use lifecycle::{approve, delete, reject, set_state, APPROVAL_MS};
pub use options::{AuthKind, Deprovision, Scope};
pub use state::{Refusal, Switch, TargetState, Transition};

use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Auth, Client};
use super::filter::Filters;
use super::mapping;
use super::maps::Maps;
use super::matching::Matching;
use super::secret::{SealKey, Secret};
use crate::directory::{apps, audit, Actor, App, DirectoryError};
use crate::store::scim::{self as store, TargetRow};
use crate::store::{Conn, Db};

/// A connector profile: defaults and the target's known limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connector {
    pub name: &'static str,
    pub default_url: Option<&'static str>,
    /// The one kind of credential the vendor takes (None: either).
    pub auth: Option<AuthKind>,
    /// The longest userName the target accepts (BlueJeans: 30).
    pub max_username: Option<usize>,
    /// Optional attributes not in the vendor's attribute set: excluded when the target is
    /// set up, and again by "restore defaults".
    pub default_excluded: &'static [&'static str],
    /// Attribute mappings the vendor's rules need (`scim::maps` lines), set when the target
    /// is first set up.
    pub default_maps: &'static str,
}

pub const CONNECTORS: &[Connector] = &[
    Connector {
        name: "generic",
        default_url: None,
        auth: None,
        max_username: None,
        default_excluded: &[],
        default_maps: "",
    },
    Connector {
        name: "bluejeans",
        default_url: Some("https://api.bluejeans.com/v2/scim"),
        // JumpCloud's guide: a token generated in BlueJeans' admin console.
        auth: Some(AuthKind::Bearer),
        max_username: Some(30),
        // JumpCloud's BlueJeans attribute table has no manager.
        default_excluded: &["manager"],
        default_maps: "",
    },
    Connector {
        name: "thousandeyes",
        default_url: None,
        // Entra's guide: the secret token of the account's Security & Authentication page.
        auth: Some(AuthKind::Bearer),
        max_username: None,
        default_excluded: &[],
        // ThousandEyes signs its users in by e-mail address: that is their userName.
        default_maps: "userName = [email]",
    },
    Connector {
        name: "jive",
        default_url: None,
        // Entra's guide: a System Administrator's user name and password.
        auth: Some(AuthKind::Basic),
        max_username: None,
        default_excluded: &[],
        default_maps: "",
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
    /// Send a password a user sets in sesame to the target, once (`scim::password`).
    pub password_sync: Option<bool>,
    /// Pause when more than this many accounts would be deprovisioned within an hour (0: off).
    pub deletion_threshold: Option<i64>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    pub restore_defaults: bool,
    /// Where failure and recovery notifications go (`notice`); "" removes it.
    pub notify_email: Option<String>,
    /// `assigned` or `all` (`Scope`).
    pub scope: Option<String>,
    /// Scoping filters in their text form (`filter`); "" removes them.
    pub filters: Option<String>,
    /// Matching precedence, comma-separated (`matching`).
    pub matching: Option<String>,
    /// Attribute mappings in their text form, one a line (`maps`); "" removes them.
    pub mappings: Option<String>,
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

/// The stored exclusion list a connector starts with.
fn defaults_of(connector_name: &str) -> String {
    let list = connector(connector_name).map_or(&[][..], |c| c.default_excluded);
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

pub fn excluded(row: &TargetRow) -> Vec<String> {
    serde_json::from_str(&row.excluded).unwrap_or_default()
}

fn new_row(app: &App) -> TargetRow {
    blank(app.id, &app.template)
}

/// The settings of a target never configured, for an app made from `template`.
pub fn blank(app_id: i64, template: &str) -> TargetRow {
    let connector = connector(template).map_or("generic", |c| c.name);
    TargetRow {
        app_id,
        connector: connector.to_string(),
        base_url: String::new(),
        auth: AuthKind::Bearer,
        basic_user: String::new(),
        secret: String::new(),
        excluded: defaults_of(connector),
        deprovision: Deprovision::Deactivate,
        push_groups: false,
        password_sync: false,
        deletion_threshold: 0,
        scope: Scope::Assigned,
        filters: Filters::default(),
        matching: Matching::default(),
        mappings: self::connector(template)
            .ok()
            .and_then(|c| Maps::parse(c.default_maps).ok())
            .unwrap_or_default(),
        state: TargetState::Inactive,
        state_reason: String::new(),
        failures: 0,
        last_sync_at: 0,
        updated_at: 0,
        approved_until: 0,
        paused_until: 0,
        caps: store::Capabilities::default(),
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

/// The credential the target has now (unsealed), if any.
pub fn credential(key: &SealKey, row: &TargetRow) -> Result<Option<Credential>, DirectoryError> {
    if row.secret.is_empty() {
        return Ok(None);
    }
    let secret = key
        .open(&row.secret, &context(row.app_id))
        .map_err(|e| invalid(e.to_string()))?;
    Ok(Some(match row.auth {
        AuthKind::Bearer => Credential::Bearer(secret),
        AuthKind::Basic => Credential::Basic(row.basic_user.clone(), secret),
    }))
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
        "push_groups": row.push_groups,
        "password_sync": row.password_sync,
        "deletion_threshold": row.deletion_threshold,
        "scope": row.scope,
        "filters": row.filters,
        "matching": row.matching,
        "mappings": row.mappings,
        "state": row.state,
        "state_reason": row.state_reason,
        "target_supports": {
            "patch": row.caps.patch,
            "etag": row.caps.etag,
            "read": row.caps.discovered_at != 0,
        },
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
    let row = revise(&before, c, &|s| seal(key, s, app.id))?;
    let reauth = c.credential.is_some();
    if let Some(addr) = &c.notify_email {
        let addr = match addr.trim() {
            "" => String::new(),
            a => crate::mail::check_address(a)?,
        };
        let was = crate::store::mail::notify_address(&mut tx, app.id).await?;
        if was.as_deref().unwrap_or("") != addr {
            crate::store::mail::set_notify_address(&mut tx, app.id, &addr).await?;
            let shown = if addr.is_empty() {
                String::new()
            } else {
                crate::mail::masked(&addr)
            };
            audit(
                &mut tx,
                actor,
                "idm_integration_update",
                Some(slug),
                None,
                json!({ "notify_email": shown }),
            )
            .await?;
        }
    }
    if row != before {
        store::put_target(&mut tx, &row).await?;
        let reached_otherwise = (&row.base_url, &row.connector, row.auth, &row.basic_user)
            != (
                &before.base_url,
                &before.connector,
                before.auth,
                &before.basic_user,
            );
        if reached_otherwise || reauth {
            // Test connection must pass again before the console activates it, and what the
            // target supports is read again on the next contact.
            store::set_tested(&mut tx, app.id, 0).await?;
            store::set_capabilities(&mut tx, app.id, &store::Capabilities::default()).await?;
        }
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
        // So does a new scope or filter: users enter and leave through the same queue (the
        // deletion threshold applies to those leaving).
        let remap = row.excluded != before.excluded
            || row.push_groups != before.push_groups
            || row.scope != before.scope
            || row.filters != before.filters
            || row.mappings != before.mappings;
        if remap && row.state.queues_changes() {
            store::enqueue_app(&mut tx, app.id).await?;
        }
    }
    tx.commit().await?;
    Ok(row)
}

/// `before` with `c` applied and checked, without storing anything; `seal` seals a new
/// credential (`apply`'s plan passes one that only checks).
pub fn revise(
    before: &TargetRow,
    c: &Changes,
    seal: &dyn Fn(&Secret) -> Result<String, DirectoryError>,
) -> Result<TargetRow, DirectoryError> {
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
    match &c.credential {
        Some(Credential::Basic(_, _)) if profile.auth == Some(AuthKind::Bearer) => {
            return Err(invalid(format!(
                "the {} connector takes a bearer token, not basic authentication",
                profile.name
            )));
        }
        Some(Credential::Bearer(_)) if profile.auth == Some(AuthKind::Basic) => {
            return Err(invalid(format!(
                "the {} connector takes HTTP basic authentication (a user and a password), not a token",
                profile.name
            )));
        }
        Some(Credential::Bearer(t)) => {
            if t.is_empty() {
                return Err(invalid("the token is empty"));
            }
            row.auth = AuthKind::Bearer;
            row.basic_user = String::new();
            row.secret = seal(t)?;
        }
        Some(Credential::Basic(user, p)) => {
            if user.is_empty() || p.is_empty() {
                return Err(invalid("basic authentication needs a user and a password"));
            }
            row.auth = AuthKind::Basic;
            row.basic_user = user.clone();
            row.secret = seal(p)?;
        }
        None => {}
    }
    if let Some(d) = &c.deprovision {
        row.deprovision = Deprovision::parse(d)
            .ok_or_else(|| invalid(format!("deprovision {d:?} must be deactivate or delete")))?;
    }
    if let Some(p) = c.push_groups {
        row.push_groups = p;
    }
    if let Some(p) = c.password_sync {
        row.password_sync = p;
    }
    if let Some(n) = c.deletion_threshold {
        if !(0..=1_000_000).contains(&n) {
            return Err(invalid(
                "the deletion threshold must be 0 (off) or a count of accounts",
            ));
        }
        row.deletion_threshold = n;
    }
    if let Some(word) = &c.scope {
        row.scope = Scope::parse(word.trim())
            .ok_or_else(|| invalid(format!("scope {word:?} must be assigned or all")))?;
    }
    if let Some(text) = &c.filters {
        row.filters = Filters::parse(text).map_err(|e| invalid(e.to_string()))?;
    }
    if let Some(list) = &c.matching {
        row.matching = Matching::parse(list)?;
    }
    if let Some(text) = &c.mappings {
        row.mappings = Maps::parse(text).map_err(|e| invalid(e.to_string()))?;
    }
    let mut ex = if c.restore_defaults {
        serde_json::from_str(&defaults_of(profile.name)).unwrap_or_default()
    } else if c.connector.is_some() && row.connector != before.connector {
        // Another vendor: its attribute set.
        serde_json::from_str(&defaults_of(profile.name)).unwrap_or_default()
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
    Ok(row)
}

fn seal(key: &SealKey, s: &Secret, app_id: i64) -> Result<String, DirectoryError> {
    key.seal(s, &context(app_id))
        .map_err(|e| DirectoryError::Invalid(e.to_string()))
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
    let auth = match row.auth {
        AuthKind::Basic => Auth::Basic(row.basic_user.clone(), secret),
        AuthKind::Bearer => Auth::Bearer(secret),
    };
    Ok(Live {
        connector: connector(&row.connector)?,
        excluded: excluded(&row),
        client: Client::new(&row.base_url, auth, TIMEOUT).for_target(&app.slug),
        app,
        row,
    })
}
