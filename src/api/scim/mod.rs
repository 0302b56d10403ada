//! `/api/v1/apps/{slug}/scim/...`: the app's Identity Management (SCIM target): its
//! settings, the connection test and the import; the actions are in `actions`.

mod actions;

pub use actions::{action, action_names, ActionBody, Actions};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::{AppSlug, BodyRefusals, Invalid, NotFound, Refusals, TargetError};
use super::{no_content, ok, Admin, ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::directory::DirectoryError;
use crate::scim::control;
use crate::scim::inventory::Candidate;
use crate::scim::secret::Secret;
use crate::scim::target::{self, AuthKind, Changes, Credential, Deprovision, Scope, TargetState};
use crate::store::scim::Failing;
use crate::store::Db;

/// Identity Management (the SCIM target) of an app: its settings (never the credential),
/// its state, queue and links.
#[derive(Serialize, ToSchema)]
pub struct ScimStatus {
    /// The connector: a catalog template's name.
    connector: String,
    /// The SCIM base URL.
    url: String,
    auth: AuthKind,
    basic_user: String,
    /// "not set" or "set (write-only)": the credential itself is never returned.
    credential: &'static str,
    /// Optional attributes not sent (externalId, title, phoneNumbers, manager).
    excluded: Vec<String>,
    deprovision: Deprovision,
    push_groups: bool,
    /// A password a user sets in sesame is sent to the target once (never stored in clear).
    password_sync: bool,
    /// What the target's /ServiceProviderConfig said: PATCH (else updates are a PUT of the
    /// whole resource) and ETags (`If-Match`).
    patch_supported: bool,
    etag_supported: bool,
    deletion_threshold: i64,
    /// Whom it provisions before the filters: those who may use the app, or all active
    /// users. Never changes who may sign in.
    scope: Scope,
    /// The scoping filters, one clause a line (`group N: <attribute> <operator> [value]`);
    /// "" keeps everyone in scope.
    filters: String,
    /// The matching precedence: SCIM attributes looked up in order before a create.
    #[schema(example = json!(["userName", "externalId"]))]
    matching: Vec<String>,
    /// The target's own attribute mappings, `path = expression [create]` each (README,
    /// "Attribute mapping"); [] keeps the built-in mapping alone.
    #[schema(example = json!(["displayName = Join(\" \", [first_name], [last_name])"]))]
    mappings: Vec<String>,
    state: TargetState,
    state_reason: String,
    /// false: never set up (the other fields are the defaults).
    configured: bool,
    /// Jobs waiting.
    queued: i64,
    /// Users linked to a target account.
    linked: i64,
    /// Users the target provisions (the scope and the filters).
    in_scope: i64,
    /// When the last full sync was started (queued), milliseconds since the Unix epoch.
    last_sync_at: i64,
    /// When a request to the target last succeeded, milliseconds since the Unix epoch; 0:
    /// never.
    last_ok_at: i64,
    /// Milliseconds since the Unix epoch.
    paused_until: i64,
    /// Where failure and recovery notifications go ("": none).
    notify_email: String,
    /// The latest failure among the queued jobs: the error, when (unix ms), after how many
    /// attempts, when the job is tried next, and how many queued jobs have failed.
    failing: Option<Failing>,
}

impl ScimStatus {
    async fn of(db: &Db, slug: &str) -> Result<ScimStatus, DirectoryError> {
        let o = control::overview(db, slug).await?;
        let row = &o.row;
        Ok(ScimStatus {
            connector: row.connector.clone(),
            url: row.base_url.clone(),
            auth: row.auth,
            basic_user: row.basic_user.clone(),
            credential: if row.secret.is_empty() {
                "not set"
            } else {
                "set (write-only)"
            },
            excluded: target::excluded(row),
            deprovision: row.deprovision,
            push_groups: row.push_groups,
            password_sync: row.password_sync,
            patch_supported: row.caps.patch,
            etag_supported: row.caps.etag,
            deletion_threshold: row.deletion_threshold,
            scope: row.scope,
            filters: row.filters.to_string(),
            matching: row
                .matching
                .rules()
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            mappings: row.mappings.items(),
            state: row.state,
            state_reason: row.state_reason.clone(),
            configured: o.configured,
            queued: o.queued,
            linked: o.linked,
            in_scope: o.in_scope,
            last_sync_at: row.last_sync_at,
            last_ok_at: o.last_ok_at,
            paused_until: row.paused_until,
            notify_email: o.notify_email,
            failing: o.failing,
        })
    }
}

/// Identity Management (SCIM target): settings, state, queue
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}/scim", operation_id = "getScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, Refusals,
    ),
)]
pub async fn show(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    ok(ScimStatus::of(&state.db, &slug).await?)
}

/// Only the fields given change; the credentials are write-only (stored sealed, never
/// returned or recorded). Changing the credential keeps every link and queued job.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimPatch {
    /// The SCIM base URL: http(s), no credentials, query or fragment. Needed unless the
    /// connector has a default (bluejeans).
    pub url: Option<String>,
    /// A catalog template's name.
    pub connector: Option<String>,
    /// Bearer token. Not with basic_user/basic_password.
    #[schema(write_only)]
    pub token: Option<String>,
    /// Basic authentication user; give with basic_password.
    pub basic_user: Option<String>,
    #[schema(write_only)]
    pub basic_password: Option<String>,
    /// What a deleted user's account gets.
    #[schema(value_type = Option<Deprovision>)]
    pub deprovision: Option<String>,
    pub push_groups: Option<bool>,
    /// Send a password a user sets in sesame to the target, once (off by default).
    pub password_sync: Option<bool>,
    /// Pause when more accounts than this would be deprovisioned within an hour; 0 is off.
    #[schema(minimum = 0, maximum = 1000000)]
    pub deletion_threshold: Option<i64>,
    /// Optional attributes to stop sending (externalId, title, phoneNumbers, manager;
    /// case-insensitive).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Excluded attributes to send again.
    #[serde(default)]
    pub include: Vec<String>,
    /// Clear the exclusions first.
    #[serde(default)]
    pub restore_defaults: bool,
    /// Where a mail goes when the target is stopped, quarantined or paused, and when it
    /// runs again; "" for none.
    pub notify_email: Option<String>,
    /// `assigned` (those who may use the app) or `all` (every active user).
    #[schema(value_type = Option<Scope>)]
    pub scope: Option<String>,
    /// Scoping filters, one clause a line: `group N: <attribute> <operator> [value]`
    /// (attributes username, email, first_name, last_name, title, employee_id, manager,
    /// member_of; operators equals, not equals, starts with, is empty, is not empty, in,
    /// matches). Clauses of a group are AND-ed, groups OR-ed; "" removes every filter.
    #[schema(example = "group 1: title equals Engineer\ngroup 2: member_of in Sales, Support")]
    pub filters: Option<String>,
    /// Matching precedence: `userName`, `externalId`, `emails[type eq "work"].value`
    /// (or `email`), tried in this order.
    #[schema(example = json!(["externalId", "userName"]))]
    pub matching: Option<Vec<String>>,
    /// Attribute mappings, exactly these (`[]`: none): `path = expression`, `[create]` at
    /// the end to send it on create only. Paths: RFC 7643 §4.1 core attributes
    /// (`displayName`, `name.givenName`, `emails[type eq "work"].value`, ...) and §4.3
    /// enterprise ones (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).
    /// Expressions: `Join`, `Coalesce`, `ToLower`, `ToUpper`, `Left`, `Replace`, `Switch`,
    /// `NormalizeDiacritics`, `Append` over `[attribute]`s and `"strings"`.
    #[schema(example = json!(["displayName = Join(\" \", [first_name], [last_name])", "nickName = ToLower([username]) [create]"]))]
    pub mappings: Option<Vec<String>>,
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
            password_sync: self.password_sync,
            deletion_threshold: self.deletion_threshold,
            exclude: self.exclude,
            include: self.include,
            restore_defaults: self.restore_defaults,
            notify_email: self.notify_email,
            scope: self.scope,
            filters: self.filters,
            matching: self.matching.map(|m| m.join(",")),
            mappings: self.mappings.map(|m| lines(&m)),
        })
    }
}

/// Mapping items as the one text `Maps::parse` reads: a line each.
fn lines(items: &[String]) -> String {
    let one: Vec<String> = items.iter().map(|i| i.replace(['\n', '\r'], " ")).collect();
    one.join("\n")
}

/// Set up or change the SCIM target
#[utoipa::path(
    patch, path = "/api/v1/apps/{slug}/scim", operation_id = "updateScim", tag = "scim",
    params(AppSlug),
    request_body = ScimPatch,
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, BodyRefusals, Refusals,
    ),
)]
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
    ok(ScimStatus::of(&state.db, &slug).await?)
}

/// Remove the integration (settings, links, queued jobs)
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}/scim", operation_id = "deleteScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 204, description = "Removed."),
        NotFound, Refusals,
    ),
)]
pub async fn remove(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    target::delete(&state.db, &admin.actor, &slug).await?;
    no_content()
}

/// The target answered.
#[derive(Serialize, ToSchema)]
pub struct ScimTest {
    /// Always true (a failure is a 502).
    ok: bool,
    summary: String,
}

/// Test the connection (reads /Users and /ServiceProviderConfig)
///
/// No body.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/test", operation_id = "testScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimTest),
        NotFound, TargetError, Refusals,
    ),
)]
pub async fn test(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let summary = control::test(&state.db, &state.seal, &slug).await?;
    ok(ScimTest { ok: true, summary })
}

/// The target's users, each marked new, linked, in_sesame or suspended
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}/scim/import", operation_id = "listScimImport", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = [Candidate]),
        NotFound, TargetError, Refusals,
    ),
)]
pub async fn import_list(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    ok(control::import_list(&state.db, &state.seal, &slug).await?)
}

/// Name the users to import, or all: true; only those with status new are created.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ImportRequest)]
pub struct ImportBody {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    all: bool,
}

/// What an import did: one line per chosen user.
#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    report: Vec<String>,
}

/// Create chosen target users in sesame
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/import", operation_id = "importScim", tag = "scim",
    params(AppSlug),
    request_body = ImportBody,
    responses(
        (status = 200, description = "OK", body = ImportReport),
        Invalid, NotFound, BodyRefusals, TargetError, Refusals,
    ),
)]
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
    ok(ImportReport { report })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::actions::Action;
    use super::*;

    /// The API document lists exactly the words the domain knows.
    #[test]
    fn openapi_enums_are_the_domain_words() {
        let doc: Value = serde_json::from_str(crate::api::document::document()).unwrap();
        // The enum of a schema, through `$ref`, `oneOf` (a nullable field) and the like.
        fn words(doc: &Value, v: &Value) -> Vec<String> {
            if let Some(r) = v["$ref"].as_str() {
                return words(doc, doc.pointer(r.strip_prefix('#').unwrap()).unwrap());
            }
            if let Some(e) = v["enum"].as_array() {
                let mut w: Vec<String> = e.iter().map(|s| s.as_str().unwrap().into()).collect();
                w.sort();
                return w;
            }
            let parts = ["oneOf", "anyOf", "allOf"].map(|k| v[k].as_array());
            parts
                .into_iter()
                .flatten()
                .flatten()
                .map(|p| words(doc, p))
                .find(|w| !w.is_empty())
                .unwrap_or_default()
        }
        let sorted = |it: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            let mut w: Vec<String> = it.map(str::to_string).collect();
            w.sort();
            w
        };
        let schemas = &doc["components"]["schemas"];
        let status = &schemas["ScimStatus"]["properties"];
        assert_eq!(
            words(&doc, &status["state"]),
            sorted(&mut TargetState::ALL.into_iter().map(TargetState::as_str))
        );
        let deprovision = sorted(&mut Deprovision::ALL.into_iter().map(Deprovision::as_str));
        assert_eq!(words(&doc, &status["deprovision"]), deprovision);
        let patch = &schemas["ScimPatch"]["properties"];
        assert_eq!(words(&doc, &patch["deprovision"]), deprovision);
        assert_eq!(
            words(&doc, &status["auth"]),
            sorted(&mut AuthKind::ALL.into_iter().map(AuthKind::as_str))
        );
        // Each documented `scim/{action}` path but those with routes of their own parses.
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
