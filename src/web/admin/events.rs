//! Console: the events, filtered by app, user, event name and outcome; each with its detail
//! (provisioning events hold the redacted request and response).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Chrome, EventView, EventsPage};
use super::AdminUser;
use crate::app::AppState;
use crate::error::AppError;
use crate::store::events::{self, EventFilter};
use crate::web::pages::render;

#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    app: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    outcome: String,
}

pub async fn list(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mut conn = state.db.read().await?;
    let list = events::list(
        &mut conn,
        &EventFilter {
            app_slug: some(&f.app),
            username: some(&f.user),
            name: some(&f.name),
            outcome: some(&f.outcome),
            after: None,
            limit: 200,
        },
    )
    .await?;
    Ok(render(&EventsPage {
        c: Chrome::new(&admin, "events").await,
        events: list.into_iter().rev().map(EventView::from).collect(),
        app: f.app,
        user: f.user,
        name: f.name,
        outcome: f.outcome,
    }))
}
