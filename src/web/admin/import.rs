//! Console: the CSV import of users (`directory::import`): paste or upload, see what each
//! row would do, then import; the text stays in the form through both steps.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Chrome, ImportPage};
use super::{AdminUser, AnyForm};
use crate::app::AppState;
use crate::directory::{import, DirectoryError};
use crate::error::AppError;
use crate::web::pages::render;

pub async fn show(admin: AdminUser) -> Result<Response, AppError> {
    Ok(render(&ImportPage {
        c: Chrome::new(&admin, "users").await,
        csv: String::new(),
        report: None,
        error: None,
        invited: 0,
        columns: import::COLUMNS.join(","),
    }))
}

#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csv: String,
    /// The same as an uploaded file (the form is multipart then).
    csv_file: Option<String>,
    /// `preview` or `import`.
    action: String,
    invite: Option<String>,
}

pub async fn submit(
    admin: AdminUser,
    State(state): State<AppState>,
    AnyForm(f): AnyForm<ImportForm>,
) -> Result<Response, AppError> {
    let csv = f.csv_file.filter(|t| !t.trim().is_empty()).unwrap_or(f.csv);
    let dry_run = f.action != "import";
    let (report, error) = match import::import(&state.db, &admin.actor(), &csv, dry_run).await {
        Ok(r) => (Some(r), None),
        Err(DirectoryError::Invalid(m)) => (None, Some(m)),
        Err(e) => return Err(e.into()),
    };
    let mut invited = 0;
    let mut error = error;
    if let (Some(r), Some(_)) = (&report, &f.invite) {
        for row in r.rows.iter().filter(|row| row.outcome == "created") {
            let sent = crate::auth::invite::send(
                &state.db,
                &state.seal,
                &state.config.base_url,
                &admin.actor(),
                &row.username,
            )
            .await;
            match sent {
                Ok(()) => invited += 1,
                Err(e) => {
                    error = Some(format!(
                        "The users were created, but no invitation was sent: {e}"
                    ));
                    break;
                }
            }
        }
    }
    Ok(render(&ImportPage {
        c: Chrome::new(&admin, "users").await,
        csv,
        report,
        error,
        invited,
        columns: import::COLUMNS.join(","),
    }))
}
