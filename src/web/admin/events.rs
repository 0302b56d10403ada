//! Console: the events, for investigations — filtered by app (chosen by label), user (any
//! case), event name (from the names recorded), outcome and a time range (UTC); paged by
//! cursor (older / newer, no cap on how far back), and exported as CSV or JSON with the
//! same filter. Each event has its detail (provisioning events hold the redacted request
//! and response).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{Chrome, EventView, EventsPage};
use super::AdminUser;
use crate::app::AppState;
use crate::directory::{apps, users};
use crate::error::AppError;
use crate::store::events::{self, Event, EventFilter};
use crate::web::pages::render;

/// Events per page.
const PAGE: i64 = 100;
/// The most events one export holds (newest last).
const EXPORT_MAX: i64 = 50_000;

#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub outcome: String,
    /// UTC, as a `datetime-local` input or a date.
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    pub before: Option<i64>,
    pub after: Option<i64>,
}

impl Filter {
    /// The store's filter, or what is wrong with a time.
    async fn store_filter(&self, state: &AppState, limit: i64) -> Result<EventFilter, String> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let time = |s: &str, end: bool| match some(s) {
            None => Ok(None),
            Some(t) => crate::store::parse_when(&t, end).map(Some).ok_or_else(|| {
                format!("{t:?} is not a time: use 2026-12-01 or 2026-12-01T10:30 (UTC).")
            }),
        };
        let username = match some(&self.user) {
            Some(u) => Some(
                users::recorded_name(&state.db, &u)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        Ok(EventFilter {
            app_slug: some(&self.app),
            username,
            name: some(&self.name),
            outcome: some(&self.outcome),
            after: self.after,
            before: self.before,
            since: time(&self.since, false)?,
            until: time(&self.until, true)?,
            limit,
        })
    }

    /// The query string of this filter without the cursor (for paging and export links).
    fn query(&self) -> String {
        let pairs = [
            ("app", &self.app),
            ("user", &self.user),
            ("name", &self.name),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

pub async fn list(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    let mut c = Chrome::new(&admin, "events").await;
    let mut list = Vec::new();
    match f.store_filter(&state, PAGE + 1).await {
        Ok(filter) => {
            let mut conn = state.db.read().await?;
            list = events::list(&mut conn, &filter).await?;
        }
        Err(m) => c.flash = Some((true, m)),
    }
    // One more than a page says whether there is more in the direction of travel.
    let more = list.len() as i64 > PAGE;
    if more {
        if f.after.is_some() {
            list.pop();
        } else {
            list.remove(0);
        }
    }
    let (oldest, newest) = (list.first().map(|e| e.id), list.last().map(|e| e.id));
    let base = f.query();
    let link = |cursor: String| {
        if base.is_empty() {
            format!("/admin/events?{cursor}")
        } else {
            format!("/admin/events?{base}&{cursor}")
        }
    };
    let older = oldest
        .filter(|_| more || f.after.is_some())
        .map(|id| link(format!("before={id}")));
    let newer = newest
        .filter(|_| f.before.is_some() || (more && f.after.is_some()))
        .map(|id| link(format!("after={id}")));
    let mut conn = state.db.read().await?;
    let names = events::names(&mut conn).await?;
    drop(conn);
    let app_choices = apps::list(&state.db)
        .await?
        .into_iter()
        .map(|a| (a.slug, a.label))
        .collect();
    let usernames = users::list(&state.db)
        .await?
        .into_iter()
        .take(1000)
        .map(|u| u.username)
        .collect();
    Ok(render(&EventsPage {
        c,
        events: list.into_iter().rev().map(EventView::from).collect(),
        export: if base.is_empty() {
            String::new()
        } else {
            format!("?{base}")
        },
        older,
        newer,
        names,
        app_choices,
        usernames,
        f,
    }))
}

/// `events.csv` / `events.json`: every event of the filter (at most `EXPORT_MAX`, the newest
/// of them), oldest first.
pub async fn export(
    _: AdminUser,
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
    Query(mut f): Query<Filter>,
) -> Result<Response, AppError> {
    f.after = None;
    f.before = None;
    let filter = f
        .store_filter(&state, EXPORT_MAX)
        .await
        .map_err(AppError::BadRequest)?;
    let mut conn = state.db.read().await?;
    let list = events::list(&mut conn, &filter).await?;
    drop(conn);
    let (body, kind) = match file.as_str() {
        "events.csv" => (csv(&list), "text/csv; charset=utf-8"),
        "events.json" => (json(&list), "application/json"),
        _ => return Err(AppError::NotFound("There is no such export.".into())),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn json(list: &[Event]) -> String {
    let items: Vec<serde_json::Value> = list
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["time_utc"] = crate::store::when(e.at).into();
            v["detail"] =
                serde_json::from_str(&e.detail).unwrap_or_else(|_| e.detail.clone().into());
            v
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_default()
}

/// RFC 4180 CSV. A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or
/// carriage return first) is prefixed with `'`, since event fields carry what users and
/// targets typed.
fn csv(list: &[Event]) -> String {
    fn field(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from("id,time_utc,name,outcome,status,actor,app,user,detail\r\n");
    for e in list {
        let row = [
            e.id.to_string(),
            crate::store::when(e.at),
            e.name.clone(),
            e.outcome.clone(),
            e.status.map(|s| s.to_string()).unwrap_or_default(),
            e.actor.clone(),
            e.app_slug.clone().unwrap_or_default(),
            e.username.clone().unwrap_or_default(),
            e.detail.clone(),
        ];
        let row: Vec<String> = row.iter().map(|v| field(v)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let e = Event {
            id: 7,
            at: 0,
            name: "login_failure".into(),
            actor: "=HYPERLINK(\"http://evil\")".into(),
            app_slug: None,
            username: Some("a,b".into()),
            outcome: "failure".into(),
            status: None,
            detail: "{\"ip\":\"1.2.3.4\"}".into(),
        };
        let out = csv(&[e]);
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
            "{row}"
        );
        assert!(row.contains("\"a,b\""), "{row}");
        assert!(row.contains("\"{\"\"ip\"\":\"\"1.2.3.4\"\"}\""), "{row}");
    }
}
