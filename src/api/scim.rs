//! `/api/v1/apps/{slug}/scim/...`: the app's Identity Management (SCIM target).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use axum::response::IntoResponse;

use super::{no_content, ok, Admin, ApiError, ApiResult, Body, MaybeBody};
use crate::app::AppState;
use crate::scim::control;
use crate::scim::probe;
use crate::scim::secret::Secret;
use crate::scim::target::{self, Changes, Credential, Switch};

pub async fn show(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    ok(control::status(&state.db, &slug).await?)
}

/// The settings; credentials are write-only (never returned).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScimPatch {
    pub url: Option<String>,
    pub connector: Option<String>,
    pub token: Option<String>,
    pub basic_user: Option<String>,
    pub basic_password: Option<String>,
    pub deprovision: Option<String>,
    pub push_groups: Option<bool>,
    pub deletion_threshold: Option<i64>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub restore_defaults: bool,
}

impl ScimPatch {
    /// The changes, or why the credential fields do not fit together.
    pub fn changes(self) -> Result<Changes, String> {
        let credential = match (self.token, self.basic_user, self.basic_password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("give a token or basic credentials, not both".into())
            }
            (Some(t), None, None) if !t.is_empty() => Some(Credential::Bearer(Secret::new(t))),
            (_, Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => {
                Some(Credential::Basic(u, Secret::new(p)))
            }
            (_, Some(u), _) | (_, _, Some(u)) if !u.is_empty() => {
                return Err("basic credentials need both a user and a password".into())
            }
            _ => None,
        };
        Ok(Changes {
            url: self.url,
            connector: self.connector,
            credential,
            deprovision: self.deprovision,
            push_groups: self.push_groups,
            deletion_threshold: self.deletion_threshold,
            exclude: self.exclude,
            include: self.include,
            restore_defaults: self.restore_defaults,
        })
    }
}

pub async fn set(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<ScimPatch>,
) -> ApiResult {
    let changes = b
        .changes()
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m))?;
    target::update(&state.db, &state.seal, &admin.actor, &slug, &changes).await?;
    ok(control::status(&state.db, &slug).await?)
}

pub async fn remove(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    target::delete(&state.db, &admin.actor, &slug).await?;
    no_content()
}

pub async fn test(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let t = control::live(&state.db, &state.seal, &slug).await?;
    match probe::probe(&t).await {
        Ok(summary) => ok(json!({ "ok": true, "summary": summary })),
        Err(m) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "target_error", m)),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    username: Option<String>,
}

/// The `/api/v1/apps/{slug}/scim/{action}` actions (`test` and `import` have routes of
/// their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Switch(Switch),
    Approve,
    Reject,
    Sync,
    Plan,
    Provision,
}

/// Each action and its name in the route.
const NAMES: [(&str, Action); 8] = [
    ("activate", Action::Switch(Switch::Activate)),
    ("deactivate", Action::Switch(Switch::Deactivate)),
    ("resume", Action::Switch(Switch::Resume)),
    ("approve", Action::Approve),
    ("reject", Action::Reject),
    ("sync", Action::Sync),
    ("plan", Action::Plan),
    ("provision", Action::Provision),
];

impl Action {
    fn parse(s: &str) -> Option<Action> {
        NAMES.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }
}

/// The actions of `POST /api/v1/apps/{slug}/scim/{action}`, by name.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n)
}

pub async fn action(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    MaybeBody(body): MaybeBody<ActionBody>,
) -> ApiResult {
    let (db, actor) = (&state.db, &admin.actor);
    let Some(action) = Action::parse(&action) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API endpoint",
        ));
    };
    match action {
        Action::Switch(switch) => {
            target::set_state(db, actor, &slug, switch).await?;
            ok(control::status(db, &slug).await?)
        }
        Action::Approve => {
            target::approve(db, actor, &slug).await?;
            ok(control::status(db, &slug).await?)
        }
        Action::Reject => {
            let dropped = target::reject(db, actor, &slug).await?;
            ok(json!({ "dropped": dropped }))
        }
        Action::Sync => {
            let queued = control::start_sync(db, &state.seal, &slug).await?;
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "queued": queued })),
            )
                .into_response())
        }
        Action::Plan => {
            let t = control::live(db, &state.seal, &slug).await?;
            ok(control::plan(db, &t).await?)
        }
        Action::Provision => {
            let Some(username) = body.and_then(|b| b.username) else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "send {\"username\": \"...\"} as JSON",
                ));
            };
            let t = control::live(db, &state.seal, &slug).await?;
            let (report, stopped) = control::provision(db, &t, &username).await?;
            let exchanges: Vec<_> = report.exchanges.iter().map(|e| e.to_json()).collect();
            ok(json!({ "username": username, "decision": report.decision,
                        "stopped": stopped, "exchanges": exchanges }))
        }
    }
}

pub async fn import_list(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    ok(control::import_list(&state.db, &state.seal, &slug).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    all: bool,
}

pub async fn import(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<ImportBody>,
) -> ApiResult {
    if b.usernames.is_empty() && !b.all {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "name the users to import (usernames) or set all: true",
        ));
    }
    let found = control::import_list(&state.db, &state.seal, &slug).await?;
    let report = control::import(&state.db, &admin.actor, found, &b.usernames, b.all).await?;
    ok(json!({ "report": report }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::target::{Deprovision, TargetState};

    #[test]
    fn api_actions_parse_once() {
        let words = [
            ("activate", Action::Switch(Switch::Activate)),
            ("deactivate", Action::Switch(Switch::Deactivate)),
            ("resume", Action::Switch(Switch::Resume)),
            ("approve", Action::Approve),
            ("reject", Action::Reject),
            ("sync", Action::Sync),
            ("plan", Action::Plan),
            ("provision", Action::Provision),
        ];
        for (w, a) in words {
            assert_eq!(Action::parse(w), Some(a), "{w}");
        }
        for bad in ["", "delete", "Sync", "quarantine", "pause"] {
            assert_eq!(Action::parse(bad), None, "{bad:?}");
        }
    }

    /// The API document lists exactly the words the domain knows.
    #[test]
    fn openapi_enums_are_the_domain_words() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let words = |v: &serde_json::Value| -> Vec<String> {
            let mut w: Vec<String> = v["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            w.sort();
            w
        };
        let sorted = |it: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            let mut w: Vec<String> = it.map(str::to_string).collect();
            w.sort();
            w
        };
        let status = &doc["components"]["schemas"]["ScimStatus"]["properties"];
        assert_eq!(
            words(&status["state"]),
            sorted(&mut TargetState::ALL.into_iter().map(TargetState::as_str))
        );
        let deprovision = sorted(&mut Deprovision::ALL.into_iter().map(Deprovision::as_str));
        assert_eq!(words(&status["deprovision"]), deprovision);
        let patch = &doc["components"]["schemas"]["ScimPatch"]["properties"];
        assert_eq!(words(&patch["deprovision"]), deprovision);
        // Every documented `scim/{action}` path but those with routes of their own parses.
        let prefix = "/api/v1/apps/{slug}/scim/";
        let mut actions = 0;
        for path in doc["paths"].as_object().unwrap().keys() {
            let Some(word) = path.strip_prefix(prefix) else {
                continue;
            };
            if !matches!(word, "test" | "import") {
                assert!(Action::parse(word).is_some(), "{path}");
                actions += 1;
            }
        }
        assert_eq!(actions, 8);
    }
}
