//! `POST /api/v1/import/users`: the CSV import of users (`directory::import`), with a dry run.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::document::{BodyRefusals, Invalid, Refusals};
use super::super::{ok, Admin, ApiError, ApiResult, Params};
use crate::app::AppState;
use crate::directory::import::{self, Report};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check every row and say what would happen; create nothing.
    #[serde(default)]
    dry_run: bool,
    /// Send each created user an invitation to choose a password (SMTP must be set up).
    #[serde(default)]
    invite: bool,
}

/// Import users from CSV
///
/// The body is RFC 4180 CSV (`text/csv`) with a header row: username and email (required),
/// first_name, last_name, title, phone, employee_id, manager, department, cost_center,
/// location, groups (names separated by `;`). Each row is checked as a user created by hand; valid new users are created
/// without a password (invite them, or set one), existing usernames are left as they are,
/// and the others are reported with their reason. At most 10,000 rows.
#[utoipa::path(
    post, path = "/api/v1/import/users", operation_id = "importUsers", tag = "users",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "What each row did (or would do)", body = Report), Invalid, BodyRefusals, Refusals),
)]
pub async fn import_users(
    admin: Admin,
    State(state): State<AppState>,
    Params(q): Params<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid",
            "the CSV must be UTF-8 text",
        )
    })?;
    let report = import::import(&state.db, &admin.actor, text, q.dry_run).await?;
    if q.invite && !q.dry_run {
        for r in report.rows.iter().filter(|r| r.outcome == "created") {
            crate::auth::invite::send(
                &state.db,
                &state.seal,
                &state.config.base_url,
                &admin.actor,
                &r.username,
            )
            .await?;
        }
    }
    ok(report)
}
