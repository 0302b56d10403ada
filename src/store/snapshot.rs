//! Point-in-time copies of the SQLite file for `sesame backup` and `restore`, and whether
//! another process has the file open. These open the file on their own connection, apart
//! from `Db`'s pools: a copy must not migrate or create anything.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};
use sqlx::Connection;

use super::StoreError;

fn options(file: &Path, wait: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .busy_timeout(wait)
}

/// Writes a consistent copy of `src` to the new file `dest` while other processes read and
/// write it. `VACUUM INTO` copies inside one read transaction (on WAL, a snapshot that does
/// not hold up the writer), and the copy is compact and needs no WAL beside it. `dest` is
/// a path (SQLite takes it as text) that must not exist yet.
pub async fn copy(src: &Path, dest: &str, wait: Duration) -> Result<(), StoreError> {
    let mut conn = SqliteConnection::connect_with(&options(src, wait)).await?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(&mut conn)
        .await;
    conn.close().await?;
    copied?;
    Ok(())
}

/// What SQLite's `quick_check` finds wrong with the file (empty: nothing).
pub async fn problems(file: &Path) -> Result<Vec<String>, StoreError> {
    let mut conn =
        SqliteConnection::connect_with(&options(file, Duration::ZERO).read_only(true)).await?;
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// Whether another process has the file open. A WAL connection keeps a shared lock on the
/// database file for as long as it is open, and `serve` always has one (it polls the change
/// counter every second), so an exclusive lock that cannot be had at once means a server or
/// a CLI command is using the file. A missing file is not in use.
pub async fn in_use(file: &Path) -> Result<bool, StoreError> {
    if !file.exists() {
        return Ok(false);
    }
    let probe = options(file, Duration::ZERO).locking_mode(SqliteLockingMode::Exclusive);
    let tried = match SqliteConnection::connect_with(&probe).await {
        Ok(mut conn) => {
            let read = sqlx::query("SELECT count(*) FROM sqlite_master")
                .execute(&mut conn)
                .await;
            conn.close().await?;
            read.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match tried.map_err(StoreError::from) {
        Ok(()) => Ok(false),
        Err(StoreError::Busy(_)) => Ok(true),
        // Not a database SQLite can read (a damaged file): no server is using it either.
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_while_open_and_sees_who_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.db");
        let url = format!("sqlite://{}", src.display());
        let db = crate::store::Db::connect(&url).await.unwrap();
        assert!(in_use(&src).await.unwrap(), "the pools hold it open");
        let dest = dir.path().join("copy.db");
        let name = dest.to_str().unwrap();
        copy(&src, name, Duration::from_secs(5)).await.unwrap();
        assert!(problems(&dest).await.unwrap().is_empty());
        assert!(!in_use(&dest).await.unwrap(), "nobody holds the copy");
        assert!(copy(&src, name, Duration::from_secs(5)).await.is_err());
        drop(db);
        assert!(!in_use(&dir.path().join("missing.db")).await.unwrap());
    }
}
