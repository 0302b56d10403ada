//! App settings in memory for the SSO path: an app and its SAML settings, read once and
//! kept until something changes them. Every entry remembers the database epoch it was read
//! at (`store::Db::epoch`), which moves when this process commits a change and when another
//! process or replica changes an app (a trigger-kept counter, polled by `serve`); an entry
//! of an older epoch is read again. Unknown slugs are not kept, so probing cannot grow it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::settings;
use crate::directory::{App, DirectoryError};
use crate::store::sso::SsoRow;
use crate::store::Db;

type Entry = (u64, Settings);

/// An app and its SAML settings, shared by every request that uses them.
pub type Settings = (Arc<App>, Arc<SsoRow>);

#[derive(Debug, Default)]
pub struct AppCache {
    entries: RwLock<HashMap<String, Entry>>,
}

impl AppCache {
    /// The app at `slug` with its SAML settings, as of the current epoch.
    pub async fn get(&self, db: &Db, slug: &str) -> Result<Settings, DirectoryError> {
        let epoch = db.epoch();
        if let Some((at, v)) = self.read().get(slug) {
            if *at == epoch {
                return Ok(v.clone());
            }
        }
        // Read at `epoch`, taken before the read: a change committed meanwhile moves the
        // epoch past it, so this entry will not outlive that change.
        let (app, row) = settings::get(db, slug).await?;
        let fresh = (Arc::new(app), Arc::new(row));
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(slug.to_string(), (epoch, fresh.clone()));
        Ok(fresh)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }
}
