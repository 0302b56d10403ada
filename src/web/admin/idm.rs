//! Console: the Identity Management tab — status with a progress bar during a sync, the
//! settings (write-only credentials), the attribute mapping, and the actions: test,
//! activate/deactivate/resume, sync now, dry run, provision one user, approve/reject a
//! paused batch, import users from the app, remove.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{Chrome, IdmPage, IdmView, VendorGuide};
use super::{done, AdminUser};
use crate::api::scim::ScimPatch;
use crate::app::AppState;
use crate::directory::users;
use crate::error::AppError;
use crate::scim::control;
use crate::scim::mapping::PATHS;
use crate::scim::target::{self, Switch, CONNECTORS};
use crate::web::form::Invalid;
use crate::web::pages::render;

#[derive(Deserialize, Default)]
pub struct IdmQuery {
    plan: Option<String>,
    import: Option<String>,
    /// A username: show the SCIM user the target would get.
    preview: Option<String>,
}

async fn view(state: &AppState, slug: &str) -> Result<(crate::directory::App, IdmView), AppError> {
    let control::Overview {
        app,
        row,
        configured,
        queued,
        linked,
        in_scope,
        failing,
        last_ok_at,
        tested_at,
        notify_email,
    } = control::overview(&state.db, slug).await?;
    let excluded = target::excluded(&row);
    let every = state.config.scim_reconcile_every.as_millis() as i64;
    let (last_sync, next_sync) = if row.last_sync_at > 0 {
        let next = if row.state.sends_requests() {
            crate::store::when(row.last_sync_at + every)
        } else {
            "not scheduled (not active)".into()
        };
        (crate::store::when(row.last_sync_at), next)
    } else {
        ("never".into(), "after activation".into())
    };
    let progress_max = in_scope.max(linked).max(queued).max(1);
    let v = IdmView {
        configured,
        connector: row.connector.clone(),
        url: row.base_url.clone(),
        auth: row.auth,
        basic_user: row.basic_user.clone(),
        credential_set: !row.secret.is_empty(),
        deprovision: row.deprovision,
        push_groups: row.push_groups,
        password_sync: row.password_sync,
        patch_supported: row.caps.patch,
        caps_read: row.caps.discovered_at != 0,
        deletion_threshold: row.deletion_threshold,
        state: row.state,
        state_reason: row.state_reason.clone(),
        queued,
        linked,
        in_scope,
        last_sync,
        last_ok: if last_ok_at > 0 {
            crate::store::when(last_ok_at)
        } else {
            "never".into()
        },
        next_sync,
        tested: (tested_at > 0).then(|| crate::store::when(tested_at)),
        optional: PATHS
            .iter()
            .filter(|(_, opt)| *opt)
            .map(|(p, _)| (p.to_string(), excluded.iter().any(|e| e == p)))
            .collect(),
        progress_max,
        progress_done: (progress_max - queued).max(0),
        notify_email,
        failing: failing.map(|f| describe_failure(&f)),
        scope: row.scope.as_str().to_string(),
        filters: row.filters.to_string(),
        matching: row.matching.to_string(),
        filters_invalid: false,
        mappings: row.mappings.to_string(),
        mappings_invalid: false,
        preview: None,
    };
    Ok((app, v))
}

/// A refused settings form as it was typed (credentials never come back).
struct Typed {
    patch: ScimPatch,
    error: String,
}

impl Typed {
    fn apply(self, v: &mut IdmView) -> String {
        let p = self.patch;
        let keep = |typed: Option<String>, field: &mut String| {
            if let Some(t) = typed {
                *field = t;
            }
        };
        keep(p.url, &mut v.url);
        keep(p.connector, &mut v.connector);
        keep(p.notify_email, &mut v.notify_email);
        keep(p.scope, &mut v.scope);
        keep(p.filters, &mut v.filters);
        keep(p.matching.map(|m| m.join(",")), &mut v.matching);
        keep(p.mappings.map(|m| m.join("\n")), &mut v.mappings);
        if let Some(d) = p
            .deprovision
            .as_deref()
            .and_then(target::Deprovision::parse)
        {
            v.deprovision = d;
        }
        if let Some(n) = p.deletion_threshold {
            v.deletion_threshold = n;
        }
        v.push_groups = p.push_groups.unwrap_or(v.push_groups);
        v.filters_invalid = self.error.contains("scoping filter line");
        v.mappings_invalid = self.error.contains("attribute mapping line");
        self.error
    }
}

pub async fn show(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<IdmQuery>,
) -> Result<Response, AppError> {
    page(&state, &admin, &slug, q, None).await
}

async fn page(
    state: &AppState,
    admin: &AdminUser,
    slug: &str,
    q: IdmQuery,
    typed: Option<Typed>,
) -> Result<Response, AppError> {
    let slug = slug.to_string();
    let (app, mut v) = view(state, &slug).await?;
    let mut c = Chrome::new(admin, "apps").await;
    let mut invalid = Invalid::default();
    let refused = typed.is_some();
    if let Some(t) = typed {
        let message = t.apply(&mut v);
        invalid = Invalid::new(field_of(&message), message.clone());
        c.flash = Some((true, message));
    }
    let mut plan = None;
    let mut import = None;
    if v.configured && (q.plan.is_some() || q.import.is_some()) {
        let outcome = async {
            if q.plan.is_some() {
                let t = control::live(&state.db, &state.seal, &slug).await?;
                plan = Some(control::plan(&state.db, &t).await?);
            }
            if q.import.is_some() {
                import = Some(control::import_list(&state.db, &state.seal, &slug).await?);
            }
            Ok::<(), control::ControlError>(())
        };
        if let Err(e) = outcome.await {
            c.flash = Some((true, e.to_string()));
        }
    }
    if let Some(name) = q.preview.as_deref().filter(|n| !n.is_empty()) {
        match crate::scim::preview::user(&state.db, &slug, name).await {
            Ok((body, create_only)) => {
                let json = serde_json::to_string_pretty(&body).unwrap_or_default();
                v.preview = Some((name.to_string(), json, create_only.join(", ")));
            }
            Err(e) => c.flash = Some((true, e.to_string())),
        }
    }
    let usernames = users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let page = crate::web::pages::with_script(render(&IdmPage {
        c,
        guide: VendorGuide::of(&app),
        invalid,
        app,
        tab: "idm",
        v,
        connectors: CONNECTORS.iter().map(|k| k.name).collect(),
        usernames,
        plan,
        import,
    }));
    Ok(if refused {
        (axum::http::StatusCode::BAD_REQUEST, page).into_response()
    } else {
        page
    })
}

/// The settings field a refusal is about, from the words of its message (the domain's
/// messages name the setting: "SCIM URL ...", "the token is empty", "the deletion
/// threshold ...").
fn field_of(message: &str) -> Option<&'static str> {
    let m = message.to_lowercase();
    [
        ("scim url", "url"),
        ("credentials", "url"),
        ("token", "token"),
        ("basic", "basic_user"),
        ("deprovision", "deprovision"),
        ("threshold", "deletion_threshold"),
        ("connector", "connector"),
        ("matching", "matching"),
        ("address", "notify_email"),
        ("e-mail", "notify_email"),
    ]
    .into_iter()
    .find(|(word, _)| m.contains(word))
    .map(|(_, field)| field)
}

/// A failing queue in words: the error, when, after how many attempts, and the next try.
fn describe_failure(f: &crate::store::scim::Failing) -> String {
    let when = crate::store::when;
    format!(
        "{} (at {} UTC; {} job(s) failing, {} attempt(s) so far; next try {} UTC)",
        f.error,
        when(f.at),
        f.failing_jobs,
        f.attempts,
        when(f.next_attempt_at)
    )
}

/// The status panel as JSON, for `idm.js` to update it in place while jobs are queued:
/// the page itself never reloads, so a form being edited is never touched.
pub async fn status(
    _admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let (_, v) = view(&state, &slug).await?;
    let state_text = if v.state_reason.is_empty() {
        v.state.to_string()
    } else {
        format!("{}: {}", v.state, v.state_reason)
    };
    Ok(axum::response::IntoResponse::into_response(axum::Json(
        serde_json::json!({
            "state": v.state.to_string(),
            "state_text": state_text,
            "queue_text": format!(
                "{} queued · {} linked accounts · {} users in scope",
                v.queued, v.linked, v.in_scope
            ),
            "last_sync": v.last_sync,
            "last_ok": v.last_ok,
        "failing": v.failing,
            "next_sync": v.next_sync,
            "queued": v.queued,
            "sending": v.state.sends_requests(),
            "progress_max": v.progress_max,
            "progress_done": v.progress_done,
        }),
    )))
}

/// The settings form: the mapping comes as the checked `send` boxes.
pub async fn update(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
    let send: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| n == "send")
        .map(|(_, v)| v.as_str())
        .collect();
    let optional = PATHS.iter().filter(|(_, o)| *o).map(|(p, _)| p.to_string());
    let (include, exclude): (Vec<String>, Vec<String>) =
        optional.partition(|p| send.contains(&p.as_str()));
    let restore = get("restore_defaults").is_some();
    let threshold = match nonempty("deletion_threshold").map(|t| t.parse::<i64>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            let msg = "The deletion threshold must be a whole number (0 = off).".to_string();
            return Ok(done(&admin.session, Err(msg), &format!("/admin/apps/{slug}/idm")).await);
        }
        None => None,
    };
    let patch = ScimPatch {
        url: nonempty("url"),
        connector: nonempty("connector"),
        token: nonempty("token"),
        basic_user: nonempty("basic_user"),
        basic_password: nonempty("basic_password"),
        deprovision: nonempty("deprovision"),
        push_groups: Some(get("push_groups").is_some()),
        password_sync: Some(get("password_sync").is_some()),
        deletion_threshold: threshold,
        exclude: if restore { Vec::new() } else { exclude },
        include: if restore { Vec::new() } else { include },
        restore_defaults: restore,
        notify_email: get("notify_email"),
        scope: nonempty("scope"),
        // As typed (line numbers must match what the admin sees), `\r\n` from the browser.
        filters: pairs
            .iter()
            .find(|(n, _)| n == "filters")
            .map(|(_, v)| v.replace("\r\n", "\n")),
        matching: nonempty("matching").map(|m| vec![m]),
        // A line an item, as typed, so the refused line's number is the one on screen.
        mappings: pairs.iter().find(|(n, _)| n == "mappings").map(|(_, v)| {
            v.replace("\r\n", "\n")
                .split('\n')
                .map(str::to_string)
                .collect()
        }),
    };
    let typed = ScimPatch {
        url: patch.url.clone(),
        connector: patch.connector.clone(),
        deprovision: patch.deprovision.clone(),
        push_groups: patch.push_groups,
        deletion_threshold: patch.deletion_threshold,
        notify_email: patch.notify_email.clone(),
        scope: patch.scope.clone(),
        filters: patch.filters.clone(),
        matching: patch.matching.clone(),
        mappings: patch.mappings.clone(),
        ..ScimPatch::default()
    };
    let r = match patch.changes() {
        Ok(changes) => target::update(&state.db, &state.seal, &admin.actor(), &slug, &changes)
            .await
            .map(|_| "Identity Management settings saved.".to_string())
            .map_err(|e| e.to_string()),
        Err(m) => Err(m),
    };
    match r {
        Ok(m) => Ok(done(&admin.session, Ok(m), &format!("/admin/apps/{slug}/idm")).await),
        // Shown again as typed, with the reason (nothing was saved).
        Err(error) => {
            let typed = Typed {
                patch: typed,
                error,
            };
            page(&state, &admin, &slug, IdmQuery::default(), Some(typed)).await
        }
    }
}

/// The console's `/admin/apps/{slug}/idm/{action}` buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Test,
    Switch(Switch),
    Approve,
    Reject,
    Sync,
    Provision,
    Import,
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "test" => Action::Test,
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "sync" => Action::Sync,
            "provision" => Action::Provision,
            "import" => Action::Import,
            "delete" => Action::Delete,
            "activate" => Action::Switch(Switch::Activate),
            "deactivate" => Action::Switch(Switch::Deactivate),
            "resume" => Action::Switch(Switch::Resume),
            _ => return None,
        })
    }
}

pub async fn action(
    admin: AdminUser,
    State(state): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let (db, actor, key) = (&state.db, admin.actor(), &state.seal);
    let values = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let Some(action) = Action::parse(&action) else {
        return Err(AppError::NotFound("There is no such action.".into()));
    };
    let here = format!("/admin/apps/{slug}/idm");
    let r: Result<String, String> = match action {
        Action::Test => match control::test(db, key, &slug).await {
            Ok(s) => Ok(format!("Connection works: {s}")),
            Err(control::ControlError::Remote(e)) => Err(format!("Test connection failed: {e}")),
            Err(e) => Err(e.to_string()),
        },
        Action::Switch(Switch::Activate)
            if !values("confirm_untested").iter().any(|v| v == "on")
                && control::overview(db, &slug).await?.tested_at == 0 =>
        {
            Err(
                "Test connection has not passed since the settings changed: press Test \
                 connection first, or tick \"Activate without a passed test\"."
                    .into(),
            )
        }
        Action::Switch(switch) => target::set_state(db, &actor, &slug, switch)
            .await
            .map(|row| format!("Identity Management is {}.", row.state))
            .map_err(|e| e.to_string()),
        Action::Approve => target::approve(db, &actor, &slug)
            .await
            .map(|_| "Deprovisioning approved for an hour; provisioning resumed.".into())
            .map_err(|e| e.to_string()),
        Action::Reject => target::reject(db, &actor, &slug)
            .await
            .map(|n| format!("Dropped {n} queued deprovisioning job(s); provisioning resumed."))
            .map_err(|e| e.to_string()),
        Action::Sync => control::start_sync(db, key, &slug)
            .await
            .map(|n| format!("Sync started: {n} user(s) queued."))
            .map_err(|e| e.to_string()),
        Action::Provision => {
            let user = values("username").pop().unwrap_or_default();
            let outcome = async {
                let t = control::live(db, key, &slug).await?;
                control::provision(db, &t, &user).await
            };
            match outcome.await {
                Ok((report, None)) => Ok(format!("{user}: {}", report.decision)),
                Ok((report, Some(stop))) if report.decision.is_empty() => {
                    Err(format!("{user} was not provisioned: {stop}"))
                }
                Ok((report, Some(stop))) => Err(format!(
                    "{user}: {} — then stopped: {stop}",
                    report.decision
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        Action::Import => {
            let chosen = values("user");
            if chosen.is_empty() {
                Err("Select the users to import.".into())
            } else {
                let outcome = async {
                    let found = control::import_list(db, key, &slug).await?;
                    control::import(db, &actor, found, &chosen, false).await
                };
                outcome
                    .await
                    .map(|lines| lines.join("; "))
                    .map_err(|e| e.to_string())
            }
        }
        Action::Delete => target::delete(db, &actor, &slug)
            .await
            .map(|_| "Identity Management removed.".into())
            .map_err(|e| e.to_string()),
    };
    Ok(done(&admin.session, r, &here).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_actions_parse_once() {
        let words = [
            ("test", Action::Test),
            ("activate", Action::Switch(Switch::Activate)),
            ("deactivate", Action::Switch(Switch::Deactivate)),
            ("resume", Action::Switch(Switch::Resume)),
            ("approve", Action::Approve),
            ("reject", Action::Reject),
            ("sync", Action::Sync),
            ("provision", Action::Provision),
            ("import", Action::Import),
            ("delete", Action::Delete),
        ];
        for (w, a) in words {
            assert_eq!(Action::parse(w), Some(a), "{w}");
        }
        for bad in ["", "plan", "Activate", "quarantine", "stop"] {
            assert_eq!(Action::parse(bad), None, "{bad:?}");
        }
    }
}
