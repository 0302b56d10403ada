//! A write transaction on the writer (`Db::begin`). It derefs to the connection, so the
//! store's functions take `&mut tx` as they take any connection. A transaction that changed
//! an app's settings commits with `commit_app_change`, which tells this process's caches
//! at once (other processes see it through the change counter). Dropped without a commit,
//! it rolls back (and the pool's release guard makes sure the connection does not come
//! back inside it).

use std::ops::{Deref, DerefMut};

use sqlx::{Any, Transaction};

use super::{Conn, Db};

pub struct Tx {
    inner: Transaction<'static, Any>,
    db: Db,
}

impl Tx {
    pub(super) fn new(inner: Transaction<'static, Any>, db: Db) -> Self {
        Tx { inner, db }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    /// Commits a change to apps, their SAML settings or ACS URLs: cached copies of them
    /// in this process are read again from now on.
    pub async fn commit_app_change(self) -> Result<(), sqlx::Error> {
        let db = self.db.clone();
        self.inner.commit().await?;
        db.changed();
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.inner
    }
}
