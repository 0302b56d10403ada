//! `sesame events`: the audit trail, newest last; `--follow` keeps printing new ones.

use clap::Args;

use super::output::table;
use crate::store::events::{self, Event, EventFilter};
use crate::store::Db;

#[derive(Args)]
pub struct EventsArgs {
    /// Only events about this app (slug)
    #[arg(long)]
    app: Option<String>,
    /// Only events about this user
    #[arg(long)]
    user: Option<String>,
    /// Only events with this name (e.g. user_create, login_failure)
    #[arg(long)]
    name: Option<String>,
    /// Only events with this outcome (success, failure, ...)
    #[arg(long)]
    outcome: Option<String>,
    /// Only events at or after this time, UTC (2026-12-01, 2026-12-01T10:30 or RFC 3339)
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time, UTC (a date alone includes that day)
    #[arg(long)]
    until: Option<String>,
    /// How many of the newest events to show
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    limit: i64,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
    /// Keep running and print new events as they happen
    #[arg(long)]
    follow: bool,
}

pub async fn run(db: &Db, a: EventsArgs) -> anyhow::Result<()> {
    let time = |s: Option<String>, end: bool| -> anyhow::Result<Option<i64>> {
        s.map(|t| {
            crate::store::parse_when(&t, end).ok_or_else(|| {
                anyhow::anyhow!("{t:?} is not a time (2026-12-01, 2026-12-01T10:30 or RFC 3339)")
            })
        })
        .transpose()
    };
    let username = match a.user {
        Some(u) => Some(crate::directory::users::recorded_name(db, &u).await?),
        None => None,
    };
    let mut filter = EventFilter {
        app_slug: a.app,
        username,
        name: a.name,
        outcome: a.outcome,
        since: time(a.since, false)?,
        until: time(a.until, true)?,
        limit: a.limit,
        ..EventFilter::default()
    };
    let mut conn = db.read().await?;
    let first = events::list(&mut conn, &filter).await?;
    let mut last = first.last().map(|e| e.id);
    print(first, a.json, true)?;
    if !a.follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        filter.after = Some(last.unwrap_or(0));
        let more = events::list(&mut conn, &filter).await?;
        if let Some(e) = more.last() {
            last = Some(e.id);
        }
        print(more, a.json, false)?;
    }
}

fn print(list: Vec<Event>, as_json: bool, headers: bool) -> anyhow::Result<()> {
    if as_json {
        for e in &list {
            let mut v = serde_json::to_value(e)?;
            // Detail is stored as JSON text; print it as an object.
            v["detail"] = serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
            println!("{v}");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .into_iter()
        .map(|e| {
            vec![
                crate::store::when(e.at),
                e.name,
                e.outcome,
                e.actor,
                e.app_slug.unwrap_or_default(),
                e.username.unwrap_or_default(),
                e.detail,
            ]
        })
        .collect();
    if headers {
        table(
            &[
                "time (utc)",
                "event",
                "outcome",
                "actor",
                "app",
                "user",
                "detail",
            ],
            rows,
        );
    } else {
        for r in rows {
            println!("{}", r.join("  "));
        }
    }
    Ok(())
}
