//! Bringing one user's account in one target to what the directory says (PRODUCT §3.4):
//! entering scope → look up by the matching rules in order (`matching`), link or create; a changed attribute → PATCH with
//! just that; leaving scope → `active: false`; deleted → deactivate or DELETE. Level-driven:
//! the same call after a crash or a timeout finds the target's state first and never
//! duplicates (SECURITY 15). Every request is an event with the redacted exchange.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{Exchange, Verdict};
use super::mapping;
use super::maps;
use super::matching::MatchRule;
use super::replace::{modify, Change};
use super::target::{Deprovision, Live};
use crate::directory::User;
use crate::store::events::NewEvent;
use crate::store::scim::{self as store, Link};
use crate::store::{users, Db, Small, StoreError};

/// Why a sync stopped short.
#[derive(Debug)]
pub enum Stop {
    /// Try again later, not before the hint.
    Retry(Option<std::time::Duration>, String),
    /// The credentials were refused: stop the whole target.
    Unauthorized(String),
    /// Deprovisioning past the deletion threshold: pause the target for approval.
    Threshold(String),
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Store(e.into())
    }
}

impl From<crate::directory::DirectoryError> for Stop {
    fn from(e: crate::directory::DirectoryError) -> Self {
        Stop::Retry(None, e.to_string())
    }
}

/// What happened, for `scim provision` and tests.
#[derive(Debug, Default)]
pub struct Report {
    pub decision: String,
    pub exchanges: Vec<Exchange>,
    /// A dry run of a user in scope and not linked: a sync would look them up first.
    pub needs_match: bool,
}

/// One sync of one user or group: sends requests and records each as an event.
pub(crate) struct Run<'a> {
    pub(crate) db: &'a Db,
    pub(crate) t: &'a Live,
    /// The user or group the events are about.
    username: String,
    pub(crate) report: Report,
    /// The target answered a PATCH with 501/405 during this run (`replace`).
    pub(crate) no_patch: bool,
}

impl<'a> Run<'a> {
    pub(crate) fn new(db: &'a Db, t: &'a Live, subject: String) -> Self {
        Run {
            db,
            t,
            username: subject,
            report: Report::default(),
            no_patch: false,
        }
    }

    pub(crate) async fn send(
        &mut self,
        event: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Exchange, Stop> {
        self.send_if(event, method, path, body, None).await
    }

    /// `send` with `If-Match` (RFC 7644 §3.14) when a version is given.
    pub(crate) async fn send_if(
        &mut self,
        event: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Exchange, Stop> {
        let ex = self.t.client.send_if(method, path, body, if_match).await;
        let verdict = ex.verdict();
        self.event(event, verdict == Verdict::Ok, ex.status, ex.to_json())
            .await?;
        self.report.exchanges.push(ex.clone());
        match verdict {
            Verdict::Unauthorized => Err(Stop::Unauthorized(ex.detail())),
            Verdict::Transient(after) => Err(Stop::Retry(after, ex.detail())),
            _ => Ok(ex),
        }
    }

    pub(crate) async fn event(
        &self,
        name: &'static str,
        ok: bool,
        status: Option<u16>,
        detail: Value,
    ) -> Result<(), Stop> {
        let e = NewEvent {
            name,
            actor: "system:scim".into(),
            app_slug: Some(self.t.app.slug.clone()),
            username: Some(self.username.clone()),
            outcome: if ok { "success" } else { "failure" },
            status: status.map(i64::from),
            detail,
        };
        // One event per request to the target: they share commits with each other and
        // with sign-ons.
        self.db.group(Small::Event(e)).await?;
        Ok(())
    }

    /// `GET /Users?filter=<rule> eq "…"` for each matching rule in order (RFC 7644
    /// §3.4.2.2): the first account found and the rule that found it.
    async fn lookup(&mut self, u: &User) -> Result<Option<(MatchRule, Value)>, Stop> {
        for (rule, filter) in self.t.row.matching.lookups(u) {
            if let Some(found) = self.lookup_by(&filter).await? {
                return Ok(Some((rule, found)));
            }
        }
        Ok(None)
    }

    async fn lookup_by(&mut self, filter: &str) -> Result<Option<Value>, Stop> {
        let filter: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let ex = self
            .send(
                "user_lookup_provision",
                Method::GET,
                &format!("/Users?filter={filter}"),
                None,
            )
            .await?;
        if ex.verdict() != Verdict::Ok {
            return Err(Stop::Retry(None, format!("lookup failed: {}", ex.detail())));
        }
        let found = ex
            .response
            .as_ref()
            .and_then(|r| r.get("Resources"))
            .and_then(Value::as_array)
            .and_then(|list| list.first())
            .cloned();
        Ok(found)
    }
}

/// The user as the target knows them: the userName a mapping may give, for look-ups.
fn sent_as(u: &User, desired: &Map<String, Value>) -> User {
    let mut named = u.clone();
    if let Some(name) = desired.get("userName").and_then(Value::as_str) {
        named.username = name.to_string();
    }
    named
}

fn as_map(json: &str) -> Map<String, Value> {
    serde_json::from_str(json).unwrap_or_default()
}

fn remote_id(resource: &Value) -> Option<String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Retry(_, why) => write!(f, "will retry: {why}"),
            Stop::Unauthorized(why) => write!(f, "the target refused the credentials: {why}"),
            Stop::Threshold(why) => write!(f, "paused: {why}"),
            Stop::Store(e) => write!(f, "database: {e}"),
        }
    }
}

/// Syncs `user_id` to the target, with what was sent and answered even when it stops short.
/// With `dry_run`, sends nothing and says what it would do.
pub async fn user_report(db: &Db, t: &Live, user_id: i64, dry_run: bool) -> (Report, Option<Stop>) {
    let mut report = Report::default();
    let stop = run_user(db, t, user_id, dry_run, &mut report).await.err();
    (report, stop)
}

/// Syncs `user_id` to the target. With `dry_run`, sends nothing and says what it would do.
pub async fn user(db: &Db, t: &Live, user_id: i64, dry_run: bool) -> Result<Report, Stop> {
    match user_report(db, t, user_id, dry_run).await {
        (report, None) => Ok(report),
        (_, Some(stop)) => Err(stop),
    }
}

async fn run_user(
    db: &Db,
    t: &Live,
    user_id: i64,
    dry_run: bool,
    out: &mut Report,
) -> Result<(), Stop> {
    let mut conn = db.read().await?;
    let user = users::by_id(&mut conn, user_id).await?;
    let link = store::link(&mut conn, t.app.id, user_id).await?;
    let in_scope = match &user {
        Some(u) => super::scope::includes(&mut conn, &t.row, u).await?,
        None => false,
    };
    let manager = match &user {
        Some(u) if u.manager.is_some() => match users::manager_id(&mut conn, u.id).await? {
            Some(m) => store::remote_id(&mut conn, t.app.id, m).await?,
            None => None,
        },
        _ => None,
    };
    drop(conn);
    let username = user
        .as_ref()
        .map(|u| u.username.clone())
        .or_else(|| link.as_ref().map(|l| l.username.clone()))
        .unwrap_or_default();
    let mut run = Run::new(db, t, username);
    let result = run_decision(&mut run, user, link, in_scope, manager, dry_run).await;
    *out = std::mem::take(&mut run.report);
    result
}

async fn run_decision(
    run: &mut Run<'_>,
    user: Option<User>,
    link: Option<Link>,
    in_scope: bool,
    manager: Option<String>,
    dry_run: bool,
) -> Result<(), Stop> {
    let (db, t) = (run.db, run.t);
    let user_id = user
        .as_ref()
        .map(|u| u.id)
        .or(link.as_ref().map(|l| l.user_id))
        .unwrap_or(0);
    let before = link.clone();
    match (user, link, in_scope) {
        (Some(u), link, true) => {
            let desired = maps::resource(&u, &t.excluded, manager.as_deref(), &t.row.mappings);
            enter_or_update(run, &u, link, desired, dry_run).await?
        }
        (None, Some(link), _) => {
            remove(run, link, t.row.deprovision == Deprovision::Delete, dry_run).await?
        }
        (Some(_), Some(link), false) if link.active != 0 => {
            remove(run, link, false, dry_run).await?
        }
        _ => run.report.decision = "nothing to do (not in scope, not active in the target)".into(),
    }
    if !dry_run && t.row.push_groups {
        // Group member lists follow the account: linked, reactivated, deactivated, deleted.
        let mut conn = db.write().await?;
        let after = store::link(&mut conn, t.app.id, user_id).await?;
        let key = |l: &Option<Link>| l.as_ref().map(|l| (l.remote_id.clone(), l.active));
        if key(&before) != key(&after) {
            store::enqueue_groups_of_user(&mut conn, t.app.id, user_id).await?;
        }
    }
    Ok(())
}

async fn enter_or_update(
    run: &mut Run<'_>,
    u: &User,
    link: Option<Link>,
    desired: Map<String, Value>,
    dry_run: bool,
) -> Result<(), Stop> {
    let named = sent_as(u, &desired);
    if let Some(max) = run.t.connector.max_username {
        if named.username.chars().count() > max {
            run.report.decision = format!(
                "refused before sending: {} accepts userNames of at most {max} characters",
                run.t.connector.name
            );
            let detail = json!({ "reason": run.report.decision, "userName": named.username });
            run.event("user_create_provision", false, None, detail)
                .await?;
            return Ok(());
        }
    }
    let mut matched = None;
    let link = match link {
        Some(l) => l,
        None => {
            if dry_run {
                run.report.decision = format!(
                    "would look up by {}, then link or create",
                    run.t.row.matching
                );
                run.report.needs_match = true;
                return Ok(());
            }
            match run.lookup(&named).await? {
                Some((rule, found)) => {
                    matched = Some(rule);
                    link_found(run, u, &found).await?
                }
                None => return create(run, u, desired).await,
            }
        }
    };
    // Create-only mappings are compared and sent never again after the POST.
    let create_only = run.t.row.mappings.create_only();
    let synced = maps::for_update(&as_map(&link.synced), &create_only);
    let desired = maps::for_update(&desired, &create_only);
    let linked = |d: &str| match matched {
        Some(rule) => format!(
            "linked the existing account (matched by {}); {d}",
            rule.as_str()
        ),
        None => d.to_string(),
    };
    let mut ops = mapping::diff(&synced, &desired);
    let reactivate = json!({ "op": "replace", "path": "active", "value": true });
    if link.active == 0 {
        ops.push(reactivate.clone());
    }
    if ops.is_empty() {
        run.report.decision = linked("up to date");
        return Ok(());
    }
    run.report.decision = linked(&format!("update {} attribute(s)", ops.len()));
    if dry_run {
        return Ok(());
    }
    let mut put = mapping::full(&synced, &desired);
    put.push(reactivate);
    let change = Change { patch: ops, put };
    let ex = modify(
        run,
        "user_update_provision",
        "Users",
        &link.remote_id,
        &change,
    )
    .await?;
    match ex.verdict() {
        Verdict::Ok => save(run, u, &link.remote_id, &desired, true).await,
        Verdict::NotFound => {
            // Gone in the target: forget the link and look again before any re-create.
            let mut conn = run.db.write().await?;
            store::delete_link(&mut conn, run.t.app.id, u.id).await?;
            Err(Stop::Retry(
                Some(std::time::Duration::ZERO),
                "the target lost the user; looking it up again".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// A user found by lookup: link it, remembering what the target holds, so the next step
/// sends only what differs.
async fn link_found(run: &mut Run<'_>, u: &User, found: &Value) -> Result<Link, Stop> {
    let id = remote_id(found).ok_or_else(|| Stop::Retry(None, "lookup answer has no id".into()))?;
    let active = found.get("active").and_then(Value::as_bool).unwrap_or(true);
    let link = Link {
        app_id: run.t.app.id,
        user_id: u.id,
        username: u.username.clone(),
        remote_id: id,
        synced: Value::Object(mapping::from_remote(found, &run.t.row.mappings.keys())).to_string(),
        active: i64::from(active),
    };
    let mut conn = run.db.write().await?;
    store::put_link(&mut conn, &link).await?;
    Ok(link)
}

async fn create(run: &mut Run<'_>, u: &User, desired: Map<String, Value>) -> Result<(), Stop> {
    run.report.decision = "create".into();
    let ex = run
        .send(
            "user_create_provision",
            Method::POST,
            "/Users",
            Some(mapping::create_body(&desired)),
        )
        .await?;
    match ex.verdict() {
        Verdict::Ok => {
            let id = ex.response.as_ref().and_then(remote_id).ok_or_else(|| {
                Stop::Retry(
                    None,
                    "the create answer has no id; looking up next time".into(),
                )
            })?;
            save(run, u, &id, &desired, true).await
        }
        // Already there (a concurrent create, or a crash after the POST): find and link.
        // userName is what targets hold unique, so it is looked up here even when the
        // matching rules leave it out; the next run then updates the linked account.
        Verdict::Conflict => {
            let by_name = MatchRule::UserName.filter(&sent_as(u, &desired).username);
            if let Some(found) = run.lookup_by(&by_name).await? {
                link_found(run, u, &found).await?;
            }
            Err(Stop::Retry(
                Some(std::time::Duration::ZERO),
                "409 on create: looking the user up to link it".into(),
            ))
        }
        _ => Ok(()),
    }
}

async fn save(
    run: &mut Run<'_>,
    u: &User,
    remote_id: &str,
    synced: &Map<String, Value>,
    active: bool,
) -> Result<(), Stop> {
    let mut conn = run.db.write().await?;
    let link = Link {
        app_id: run.t.app.id,
        user_id: u.id,
        username: u.username.clone(),
        remote_id: remote_id.to_string(),
        synced: Value::Object(synced.clone()).to_string(),
        active: i64::from(active),
    };
    store::put_link(&mut conn, &link).await?;
    Ok(())
}

/// The deletion threshold (SECURITY 16): more deprovisionings within an hour than the
/// admin allowed pause the target until they approve.
async fn guard(run: &Run<'_>) -> Result<(), Stop> {
    let limit = run.t.row.deletion_threshold;
    if limit == 0 || crate::store::now_ms() < run.t.row.approved_until {
        return Ok(());
    }
    let mut conn = run.db.write().await?;
    let done =
        store::count_deprovision(&mut conn, run.t.app.id, super::target::APPROVAL_MS).await?;
    if done > limit {
        return Err(Stop::Threshold(format!(
            "more than {limit} account(s) would be deprovisioned within an hour; \
             approve with `sesame scim approve {0}` or reject with `sesame scim reject {0}`",
            run.t.app.slug
        )));
    }
    Ok(())
}

/// Leaving scope: `active: false`; a deleted user with the delete action: `DELETE`.
async fn remove(run: &mut Run<'_>, link: Link, delete: bool, dry_run: bool) -> Result<(), Stop> {
    let path = super::client::resource_path("Users", &link.remote_id);
    if !dry_run && (delete || link.active != 0) {
        guard(run).await?;
    }
    if delete {
        run.report.decision = "delete".into();
        if dry_run {
            return Ok(());
        }
        let ex = run
            .send("user_delete_provision", Method::DELETE, &path, None)
            .await?;
        if matches!(ex.verdict(), Verdict::Ok | Verdict::NotFound) {
            let mut conn = run.db.write().await?;
            store::delete_link(&mut conn, link.app_id, link.user_id).await?;
        }
        return Ok(());
    }
    if link.active == 0 {
        run.report.decision = "already deactivated".into();
    } else {
        run.report.decision = "deactivate".into();
        if dry_run {
            return Ok(());
        }
        // RFC 7644 §3.5.2 (PATCH) or §3.5.1 (PUT of the whole resource) with `active: false`.
        let off = vec![json!({ "op": "replace", "path": "active", "value": false })];
        let change = Change {
            patch: off.clone(),
            put: off,
        };
        let ex = modify(run, "user_deprovision", "Users", &link.remote_id, &change).await?;
        if !matches!(ex.verdict(), Verdict::Ok | Verdict::NotFound) {
            return Ok(());
        }
    }
    let mut conn = run.db.write().await?;
    let user_gone = users::by_id(&mut conn, link.user_id).await?.is_none();
    if user_gone {
        store::delete_link(&mut conn, link.app_id, link.user_id).await?;
    } else {
        store::put_link(&mut conn, &Link { active: 0, ..link }).await?;
    }
    Ok(())
}
