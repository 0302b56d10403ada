//! The database: one `Db` handle over SQLite (default) or PostgreSQL (several replicas),
//! chosen by the URL scheme, with the migrations of that backend embedded in the binary.
//! Every query here is portable: `$N` placeholders, integers for booleans and times.
//!
//! How the server stays up under load (issue 10):
//! - **Reads and writes are apart.** `read()` hands out a connection of the reader pool (on
//!   SQLite WAL readers with `query_only`, so a write there fails loudly); `write()` and
//!   `begin()` the writer. On SQLite the writer is a single connection: the server's own
//!   writes queue for it in order instead of fighting over the file lock, so they cannot
//!   deadlock or fail with "database is locked" among themselves. On PostgreSQL both are
//!   the one pool.
//! - **Small hot-path writes share a commit** (`group`: sign-on events, replay records,
//!   session touches), so a burst of sign-ons costs one commit, not one each.
//! - **No connection goes back to the pool inside a transaction** (`release_guard`): sqlx
//!   can lose track of a `BEGIN` whose future was cancelled (a client that disconnects),
//!   and such a connection would hold the write lock for ever.
//! - **Waiting is bounded**: a pool that does not hand out a connection within `wait`, or a
//!   lock held by someone else past the busy timeout, is `StoreError::Busy`, which the web
//!   layer answers with 503 and `Retry-After`.

pub mod apps;
pub mod events;
pub mod group;
pub mod groups;
pub mod inbound;
pub mod mail;
pub mod mfa;
pub mod saml;
pub mod scim;
pub mod sessions;
pub mod snapshot;
pub mod sso;
pub mod throttle;
pub mod tokens;
mod tx;
pub mod user_tokens;
pub mod users;
pub mod vitals;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Connection, Executor};

use crate::telemetry::Pool;

pub use group::Small;
pub use sqlx::AnyConnection as Conn;
pub use tx::Tx;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a request waits for a connection (or for SQLite's file lock) before it is
/// told the database is busy: long enough to ride out a burst, short enough that the
/// person gets a "try again" page rather than a spinner.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(3);

/// SQLite readers; PostgreSQL's one pool.
const SQLITE_READERS: u32 = 4;
const POSTGRES_POOL: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database_url must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("cannot create the directory for the SQLite file: {0}")]
    CreateDir(std::io::Error),
    /// The database did not answer in time: every connection busy, or the file locked by
    /// another process past the busy timeout. Worth retrying shortly; nothing was written.
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// A column holds a word the code does not know (a newer version wrote it, or a hand
    /// edit): refused rather than guessed at.
    #[error("database column {column} holds an unknown value {value:?}")]
    Unknown { column: &'static str, value: String },
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        match &e {
            M::Execute(inner) | M::ExecuteMigration(inner, _) if is_busy(inner) => {
                StoreError::Busy(e.to_string())
            }
            _ => StoreError::Migrate(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_busy(&e) {
            StoreError::Busy(e.to_string())
        } else {
            StoreError::Sqlx(e)
        }
    }
}

/// Errors that mean "not now" rather than "wrong": a pool timeout, SQLite's BUSY and
/// LOCKED (another process holds the write lock past the busy timeout), PostgreSQL's lock
/// timeout, statement timeout and serialization failure.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => {
            let code = d.code();
            let code = code.as_deref().unwrap_or("");
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite reports the primary or an extended code (BUSY = 5, LOCKED = 6;
                // their extended codes keep the low byte).
                code.parse::<i64>()
                    .map(|c| matches!(c & 0xff, 5 | 6))
                    .unwrap_or(false)
            } else {
                // PostgreSQL SQLSTATEs: lock_not_available, query_canceled (our timeouts),
                // serialization_failure, deadlock_detected.
                matches!(code, "55P03" | "57014" | "40001" | "40P01")
            }
        }
        _ => false,
    }
}

impl StoreError {
    /// A unique constraint refused the write (a racing duplicate).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// The database is overloaded or locked: answer "try again" (503), not "broken".
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

/// A pooled connection, from `Db::read` or `Db::write`.
pub type Pooled = PoolConnection<Any>;

#[derive(Clone, Debug)]
pub struct Db {
    pub backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Moves whenever this process commits a change, and when the poller sees the
    /// database's change counter move (another process or replica changed an app).
    epoch: AtomicU64,
    /// The last value of `change_counter` the poller read.
    counter: AtomicI64,
    group: group::Sender,
    /// Settings read at an epoch (`mfa::cached_setting`): read again once the epoch moves.
    settings: std::sync::Mutex<(u64, std::collections::HashMap<String, Option<String>>)>,
}

/// Options shared by both pools.
fn pool_options(max: u32, wait: Duration) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(wait)
        .after_release(|conn, _| Box::pin(release_guard(conn)))
}

/// A connection may go back to the pool only outside any transaction. A dropped
/// `Transaction` queues its rollback, so the connection is pinged (which runs after it)
/// before it is judged; one still inside a transaction is closed, which rolls it back.
async fn release_guard(conn: &mut Conn) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("a connection came back inside a transaction; closing it");
        return Ok(false);
    }
    Ok(true)
}

impl Db {
    /// Opens (creating a SQLite file when needed) and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_WAIT).await
    }

    /// As `connect`, waiting at most `wait` for a connection or a lock.
    pub async fn connect_with(url: &str, wait: Duration) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let busy_ms = wait.as_millis().max(1) as u64;
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                let writer = pool_options(1, wait)
                    .after_connect(move |conn, _| Box::pin(sqlite_pragmas(conn, busy_ms, false)))
                    .connect_with(options.clone())
                    .await?;
                // The writer creates the file and the WAL before any reader opens it.
                at_start(|| SQLITE_MIGRATIONS.run(&writer)).await?;
                let reader = pool_options(SQLITE_READERS, wait)
                    .after_connect(move |conn, _| Box::pin(sqlite_pragmas(conn, busy_ms, true)))
                    .connect_with(options)
                    .await?;
                (reader, writer)
            }
            Backend::Postgres => {
                let pool = pool_options(POSTGRES_POOL, wait)
                    .after_connect(move |conn, _| Box::pin(postgres_limits(conn, busy_ms)))
                    .connect_with(options)
                    .await?;
                at_start(|| POSTGRES_MIGRATIONS.run(&pool)).await?;
                (pool.clone(), pool)
            }
        };
        let group = group::start(writer.clone(), backend, wait);
        let db = Db {
            backend,
            reader,
            writer,
            shared: Arc::new(Shared {
                epoch: AtomicU64::new(0),
                counter: AtomicI64::new(i64::MIN),
                group,
                settings: Default::default(),
            }),
        };
        at_start(|| db.poll_changes()).await?;
        Ok(db)
    }

    /// A connection for reading. On SQLite it refuses writes (`query_only`).
    pub async fn read(&self) -> Result<Pooled, StoreError> {
        timed(Pool::Reader, self.reader.acquire()).await
    }

    /// The writer, for a single statement that commits on its own. Hold it briefly: on
    /// SQLite every other write of the server waits for it.
    pub async fn write(&self) -> Result<Pooled, StoreError> {
        timed(Pool::Writer, self.writer.acquire()).await
    }

    /// A transaction on the writer. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred one that reads then writes would fail with BUSY
    /// instead of waiting when another process (the CLI) wrote meanwhile. Never ask for
    /// another writer connection while holding it: on SQLite there is only one.
    ///
    /// The `BEGIN` runs in a task of its own, so it cannot be cancelled half-way: sqlx
    /// loses track of a transaction whose `BEGIN` future is dropped at the wrong moment
    /// (a client that disconnects), on both backends. If the caller is gone by the time
    /// it finishes, the transaction is dropped there and rolls back.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let started = tokio::spawn(begin_on(self.writer.clone(), self.backend));
        let inner = timed(Pool::Writer, async {
            match started.await {
                Ok(begun) => begun.map_err(StoreError::from),
                Err(e) => Err(StoreError::Busy(format!(
                    "the transaction did not start: {e}"
                ))),
            }
        })
        .await?;
        Ok(Tx::new(inner, self.clone()))
    }

    /// Writes a small record in the next group commit and waits until it is durable.
    /// For `Small::FirstSight`, false means the request ID was seen before (nothing
    /// written).
    pub async fn group(&self, small: Small) -> Result<bool, StoreError> {
        self.shared.group.submit(small).await
    }

    /// A number that changes whenever app settings may have changed (see `Shared::epoch`);
    /// caches compare it with the value they were filled at.
    /// A setting as read at this epoch, if it was.
    pub(crate) fn remembered_setting(&self, key: &str) -> Option<Option<String>> {
        let cache = self
            .shared
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (cache.0 == self.epoch())
            .then(|| cache.1.get(key).cloned())
            .flatten()
    }

    /// Keeps a setting read at `epoch` (read before the read, so a change meanwhile is not
    /// hidden: the next call reads again).
    pub(crate) fn remember_setting(&self, epoch: u64, key: &str, value: Option<String>) {
        let mut cache = self
            .shared
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cache.0 != epoch {
            *cache = (epoch, Default::default());
        }
        cache.1.insert(key.to_string(), value);
    }

    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// Called after this process committed a change.
    pub(crate) fn changed(&self) {
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Reads the database's change counter; moves the epoch when it moved.
    pub async fn poll_changes(&self) -> Result<(), StoreError> {
        let mut conn = self.read().await?;
        let n: i64 = sqlx::query_scalar("SELECT n FROM change_counter WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
        if self.shared.counter.swap(n, Ordering::AcqRel) != n {
            self.changed();
        }
        Ok(())
    }

    /// Polls the change counter every `every` (run by `serve`), so that changes made by the
    /// CLI or another replica reach this server's caches.
    pub async fn watch_changes(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.poll_changes().await {
                tracing::warn!(error = %e, "could not read the change counter; app settings changed elsewhere may arrive late");
            }
        }
    }

    /// Readiness: a reader answers, and the task that writes the group commits runs.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if !self.shared.group.running() {
            return Err(StoreError::Busy(
                "the group-commit writer has stopped".into(),
            ));
        }
        sqlx::query("SELECT 1")
            .execute(&mut *self.read().await?)
            .await?;
        Ok(())
    }

    /// The reader pool, for tests and tools that run their own queries.
    pub fn reader_pool(&self) -> &AnyPool {
        &self.reader
    }

    /// The writer pool, for tests and tools that run their own queries.
    pub fn writer_pool(&self) -> &AnyPool {
        &self.writer
    }
}

/// Waits for a connection (or the writer's transaction), counting the wait for `/metrics`.
async fn timed<T, E>(
    pool: Pool,
    wait: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, StoreError>
where
    StoreError: From<E>,
{
    let start = std::time::Instant::now();
    let got = wait.await.map_err(StoreError::from);
    let busy = matches!(&got, Err(e) if e.is_busy());
    crate::telemetry::db_wait(pool, start.elapsed(), busy);
    got
}

/// How long opening the database may keep finding it busy (a loaded machine, another
/// process migrating or holding the lock) before start-up gives up.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Runs a start-up step again while it fails only because the database is busy: `wait` is
/// meant for requests, not for a server or a CLI command that is starting.
async fn at_start<T, E, F, Fut>(step: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    StoreError: From<E>,
{
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    loop {
        match step().await.map_err(StoreError::from) {
            Err(e) if e.is_busy() && tokio::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "the database is busy at start; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

/// A transaction on `pool`: `BEGIN IMMEDIATE` on SQLite (see `Db::begin`).
pub(crate) async fn begin_on(
    pool: AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// On PostgreSQL every wait is bounded too: a row lock (`lock_timeout`, answered as busy),
/// a runaway statement, and a transaction left idle (the server ends it).
async fn postgres_limits(conn: &mut Conn, wait_ms: u64) -> Result<(), sqlx::Error> {
    conn.execute(&*format!(
        "SET lock_timeout = {wait_ms}; SET statement_timeout = 60000; \
         SET idle_in_transaction_session_timeout = 60000"
    ))
    .await?;
    Ok(())
}

/// WAL lets readers run beside the writer and the CLI write while `serve` runs; the busy
/// timeout makes a writer wait (boundedly) for another process's lock instead of failing.
async fn sqlite_pragmas(conn: &mut Conn, busy_ms: u64, read_only: bool) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute(&*format!("PRAGMA busy_timeout = {busy_ms}"))
        .await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    if read_only {
        conn.execute("PRAGMA query_only = ON").await?;
    }
    Ok(())
}

/// The path and the query of a `sqlite:` URL.
fn sqlite_parts(url: &str) -> (&str, &str) {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split_once('?').unwrap_or((rest, ""))
}

/// The file a `sqlite:` URL names; `None` for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let (path, _) = sqlite_parts(url);
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

/// Makes sure the SQLite file's directory exists and the file is created on first use.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let (path, query) = sqlite_parts(url);
    if sqlite_file(url).is_none() {
        return Ok(url.to_string());
    }
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(StoreError::CreateDir)?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Hex SHA-256 of a secret handle: what the database keeps instead of the handle itself
/// (session ids, parked SSO requests).
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Unix time in milliseconds: the one time representation stored on both backends.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored time as people read it: `2026-11-30 03:10:20` (UTC).
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A time an admin typed (UTC): `2026-12-01`, `2026-12-01T10:30`, `2026-12-01 10:30:15`
/// or RFC 3339, as unix ms. A date alone is its midnight, or with `end_of_day` the next
/// midnight (an inclusive "until" date).
pub fn parse_when(s: &str, end_of_day: bool) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let day = if end_of_day { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        let dir = std::env::temp_dir().join(format!("sesame-url-{}", std::process::id()));
        let url = format!("sqlite://{}/a.db", dir.display());
        let out = sqlite_url(&url).unwrap();
        assert!(out.ends_with("a.db?mode=rwc"), "{out}");
        assert!(dir.is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
