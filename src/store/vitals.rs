//! The reads behind `/readyz` and the scrape-time gauges of `/metrics`: whether every
//! migration this binary carries has been applied, the SCIM queue and target states per
//! app, and the signed-in sessions. Small aggregate queries on the reader, run when a probe
//! or a scrape asks, never on the hot path.

use sqlx::migrate::Migrator;

use super::{now_ms, Backend, Conn, Db, StoreError};
use crate::scim::target::TargetState;

impl Db {
    /// The migrations this binary carries that the database has not applied (successfully):
    /// empty when the schema is current.
    pub async fn migrations_pending(&self) -> Result<Vec<i64>, StoreError> {
        let migrator: &Migrator = match self.backend {
            Backend::Sqlite => &super::SQLITE_MIGRATIONS,
            Backend::Postgres => &super::POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&mut *self.read().await?)
                .await?;
        Ok(migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}

/// A pool's connections: open, and idle among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolVitals {
    /// `reader` or `writer` on SQLite; `shared` for PostgreSQL's one pool.
    pub pool: &'static str,
    pub open: u32,
    pub idle: usize,
}

impl Db {
    /// The pools' connections, from memory (no query).
    pub fn pools(&self) -> Vec<PoolVitals> {
        let of = |pool, p: &sqlx::AnyPool| PoolVitals {
            pool,
            open: p.size(),
            idle: p.num_idle(),
        };
        match self.backend {
            Backend::Sqlite => vec![of("reader", &self.reader), of("writer", &self.writer)],
            Backend::Postgres => vec![of("shared", &self.writer)],
        }
    }
}

/// One SCIM target as the gauges show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVitals {
    /// The app's slug, as stored.
    pub slug: String,
    pub state: TargetState,
    /// Failed requests in a row.
    pub failures: i64,
    /// Throttled (429/503): nothing is sent before this time (unix ms).
    pub paused_until: i64,
    /// Jobs queued.
    pub depth: i64,
    /// When the oldest queued job was first queued (unix ms).
    pub oldest_at: Option<i64>,
}

/// Every SCIM target with its queue, by slug.
pub async fn targets(conn: &mut Conn) -> Result<Vec<TargetVitals>, StoreError> {
    let rows: Vec<(String, String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT a.slug, t.state, t.failures, t.paused_until, COUNT(j.id), MIN(j.created_at) \
         FROM scim_targets t JOIN apps a ON a.id = t.app_id \
         LEFT JOIN scim_jobs j ON j.app_id = t.app_id \
         GROUP BY a.slug, t.state, t.failures, t.paused_until ORDER BY a.slug",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(slug, state, failures, paused_until, depth, oldest_at)| {
            Ok(TargetVitals {
                slug,
                state: TargetState::parse(&state).ok_or_else(|| StoreError::Unknown {
                    column: "scim_targets.state",
                    value: state.clone(),
                })?,
                failures,
                paused_until,
                depth,
                oldest_at,
            })
        })
        .collect()
}

/// Sessions that belong to a user and have not expired.
pub async fn open_sessions(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND user_id IS NOT NULL",
    )
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

/// Every app's slug (the apps that may have a signing key of their own).
pub async fn app_slugs(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT slug FROM apps ORDER BY slug")
        .fetch_all(conn)
        .await?)
}
