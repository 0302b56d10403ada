//! A write transaction on the writer (`Db::begin`). It derefs to the connection, so the
//! store's functions take `&mut tx` as they take any connection, and its commit tells the
//! process's caches that something changed. Dropped without a commit, it rolls back (and
//! the pool's release guard makes sure the connection does not come back inside it).

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
        self.inner.commit().await?;
        self.db.changed();
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
