//! Console: configuration as code — download the directory as a declaration, paste one to
//! see its plan, and apply it (`crate::declare`, as `sesame export|apply` and
//! `/api/v1/config` do). As through the API, secret references are refused here: the
//! server does not read its own environment or files for a browser.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{Chrome, ConfigPage};
use super::AdminUser;
use crate::app::AppState;
use crate::declare::{self, Applier, Declaration, DeclareError, Plan};
use crate::directory::Actor;
use crate::error::AppError;
use crate::web::form::HtmlForm;
use crate::web::pages::render;

pub async fn show(admin: AdminUser) -> Result<Response, AppError> {
    page(&admin, String::new(), false, Outcome::None).await
}

/// `sesame-config.toml`, as `sesame export` writes it.
pub async fn export(_: AdminUser, State(state): State<AppState>) -> Result<Response, AppError> {
    let text = declare::export(&state.db).await.map_err(failed)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/toml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sesame-config.toml\"",
            ),
        ],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct DeclarationForm {
    toml: String,
    #[serde(default)]
    prune: Option<String>,
    /// `plan` or `apply`.
    action: String,
}

pub async fn submit(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<DeclarationForm>,
) -> Result<Response, AppError> {
    let prune = f.prune.is_some();
    let plan = match planned(&state, &f.toml, prune).await {
        Ok(p) => p,
        Err(DeclareError::File(m)) => return page(&admin, f.toml, prune, Outcome::Error(m)).await,
        Err(e) => return Err(failed(e)),
    };
    if f.action != "apply" || plan.is_empty() {
        return page(&admin, f.toml, prune, Outcome::Plan(plan.render())).await;
    }
    let shown = plan.render();
    let total = plan.steps.len();
    let applier = Applier {
        db: &state.db,
        key: &state.seal,
        certs_dir: &state.config.certs_dir,
        actor: Actor(format!("apply:console ({})", admin.actor().0)),
    };
    let applied = applier.apply(plan).await;
    let outcome = match applied.failed {
        None => Outcome::Applied(format!("{shown}Applied {total} steps.")),
        Some((step, e)) => Outcome::Error(format!(
            "Applied {} of {total} steps; stopped at {} ({}): {e}. What was done is kept: fix \
             the declaration and apply again.",
            applied.done, step.what, step.detail
        )),
    };
    page(&admin, f.toml, prune, outcome).await
}

async fn planned(state: &AppState, text: &str, prune: bool) -> Result<Plan, DeclareError> {
    let decl = Declaration::parse(text)?;
    if decl.refers_to_secrets() {
        return Err(DeclareError::File(
            "Secret references (env, file) are read only by `sesame apply` on the server. \
             Leave token and password out here: credentials stay as they are."
                .into(),
        ));
    }
    let nowhere = std::path::Path::new("/nonexistent");
    declare::plan(&state.db, &state.seal, &decl, nowhere, prune).await
}

fn failed(e: DeclareError) -> AppError {
    match e {
        DeclareError::File(m) => AppError::BadRequest(m),
        DeclareError::Directory(d) => d.into(),
    }
}

enum Outcome {
    None,
    Error(String),
    Plan(String),
    Applied(String),
}

async fn page(
    admin: &AdminUser,
    toml: String,
    prune: bool,
    outcome: Outcome,
) -> Result<Response, AppError> {
    let (error, plan, applied) = match outcome {
        Outcome::None => (None, None, false),
        Outcome::Error(m) => (Some(m), None, false),
        Outcome::Plan(p) => (None, Some(p), false),
        Outcome::Applied(p) => (None, Some(p), true),
    };
    Ok(render(&ConfigPage {
        c: Chrome::new(admin, "config").await,
        toml,
        prune,
        error,
        plan,
        applied,
    }))
}
