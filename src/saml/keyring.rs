//! The keys a running server signs with: the IdP's shared key set under `certs_dir`, and an
//! app's own key set under `certs_dir/apps/{slug}` when it has one (JumpCloud's per-app
//! `certificate.pem`). Each is reloaded as soon as its files change: every lookup compares
//! the files' modification time (a `stat`, microseconds beside a signature), so a key
//! changed by `sesame cert ...` in another process signs the very next answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::keys::{KeyError, KeySet};

/// Whose keys: the IdP's shared set, or one app's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    Shared,
    App(String),
}

/// Whether `slug` can name a directory under `certs_dir/apps`: app slugs are `[a-z0-9-]`,
/// but a slug here may come straight from a URL (`..` decoded from `%2E%2E`), so it is
/// checked again where a path is made of it.
fn safe_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl KeyScope {
    /// The directory of this scope's key files; `None` for a slug that is not one.
    pub fn dir_checked(&self, certs_dir: &Path) -> Option<PathBuf> {
        match self {
            KeyScope::Shared => Some(certs_dir.to_path_buf()),
            KeyScope::App(slug) if safe_slug(slug) => Some(certs_dir.join("apps").join(slug)),
            KeyScope::App(_) => None,
        }
    }

    /// The directory of this scope's key files. A slug that is not one maps to a directory
    /// that cannot exist (a NUL byte is in no file name), never outside `certs_dir`.
    pub fn dir(&self, certs_dir: &Path) -> PathBuf {
        self.dir_checked(certs_dir)
            .unwrap_or_else(|| certs_dir.join("apps").join("\0invalid"))
    }

    /// How events and pages name it.
    pub fn label(&self) -> String {
        match self {
            KeyScope::Shared => "the shared IdP key".into(),
            KeyScope::App(slug) => format!("the key of app {slug}"),
        }
    }
}

type Slot = (Option<Arc<KeySet>>, Option<SystemTime>);

#[derive(Debug)]
pub struct LiveKeys {
    dir: PathBuf,
    shared: RwLock<(Arc<KeySet>, Option<SystemTime>)>,
    /// Per app: its own set (None: it uses the shared one) as of the files' stamp.
    apps: RwLock<HashMap<String, Slot>>,
}

impl LiveKeys {
    pub fn open(dir: &Path) -> Result<(LiveKeys, bool), KeyError> {
        let (set, created) = KeySet::load_or_generate(dir)?;
        let stamp = KeySet::stamp(dir);
        let live = LiveKeys {
            dir: dir.to_path_buf(),
            shared: RwLock::new((Arc::new(set), stamp)),
            apps: RwLock::default(),
        };
        Ok((live, created))
    }

    /// The directory the keys are kept in (`certs_dir`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shared key set, reloaded first if its files changed.
    pub fn get(&self) -> Arc<KeySet> {
        let stamp = KeySet::stamp(&self.dir);
        {
            let g = self.shared.read().unwrap_or_else(|p| p.into_inner());
            if g.1 == stamp {
                return g.0.clone();
            }
        }
        match KeySet::load(&self.dir) {
            Ok(Some(set)) => {
                tracing::info!(fingerprint = %set.active.fingerprint, next = set.next.is_some(), "signing keys reloaded");
                let set = Arc::new(set);
                let mut g = self.shared.write().unwrap_or_else(|p| p.into_inner());
                *g = (set.clone(), stamp);
                set
            }
            Ok(None) => {
                tracing::warn!(dir = %self.dir.display(), "signing key files vanished; keeping the loaded keys");
                self.shared
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .clone()
            }
            Err(e) => {
                tracing::warn!(error = %e, "signing keys changed but do not load; keeping the loaded keys");
                self.shared
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .clone()
            }
        }
    }

    /// The app's own key set, if it has one.
    pub fn own(&self, slug: &str) -> Option<Arc<KeySet>> {
        let dir = KeyScope::App(slug.to_string()).dir(&self.dir);
        let stamp = KeySet::stamp(&dir);
        if let Some((set, at)) = self
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(slug)
        {
            if *at == stamp {
                return set.clone();
            }
        }
        let set = match KeySet::load(&dir) {
            Ok(set) => set.map(Arc::new),
            Err(e) => {
                tracing::warn!(app = slug, error = %e, "the app's key files do not load; it signs with the shared key");
                None
            }
        };
        let mut map = self.apps.write().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(slug.to_string(), (set.clone(), stamp));
        set
    }

    /// The keys an app signs with and publishes: its own, else the shared ones.
    pub fn for_app(&self, slug: &str) -> Arc<KeySet> {
        self.own(slug).unwrap_or_else(|| self.get())
    }

    /// The keys of a scope, if it has any (an app without its own key has none).
    pub fn of(&self, scope: &KeyScope) -> Option<Arc<KeySet>> {
        match scope {
            KeyScope::Shared => Some(self.get()),
            KeyScope::App(slug) => self.own(slug),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::{self, KeyKind};

    #[test]
    fn a_slug_that_is_a_path_names_no_directory() {
        let certs = Path::new("/srv/certs");
        for bad in ["..", "x/../..", "", "A", "a b", "a\0"] {
            let scope = KeyScope::App(bad.into());
            assert_eq!(scope.dir_checked(certs), None, "{bad:?}");
            assert!(scope.dir(certs).starts_with("/srv/certs/apps"), "{bad:?}");
            assert_ne!(scope.dir(certs), certs.join("apps"));
        }
        let ok = KeyScope::App("blue-jeans2".into());
        assert_eq!(
            ok.dir_checked(certs),
            Some(certs.join("apps").join("blue-jeans2"))
        );
    }

    #[test]
    fn an_app_key_written_by_another_process_signs_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (live, created) = LiveKeys::open(dir.path()).unwrap();
        assert!(created);
        let shared = live.get().active.fingerprint.clone();
        assert_eq!(live.for_app("demo").active.fingerprint, shared);
        assert!(live.own("demo").is_none());
        // As `sesame cert generate --app demo --ec` would, with nothing told to `live`.
        let scope = KeyScope::App("demo".into());
        let own = keys::generate(&scope.dir(dir.path()), KeyKind::EcP256, false).unwrap();
        let signing = live.for_app("demo");
        assert_eq!(signing.active.fingerprint, own.active.fingerprint);
        assert_eq!(signing.active.kind, KeyKind::EcP256);
        assert_eq!(live.for_app("other").active.fingerprint, shared);
        // Its rollover leaves the shared key alone.
        keys::stage_next(&scope.dir(dir.path()), KeyKind::Rsa).unwrap();
        assert!(live.for_app("demo").next.is_some());
        assert!(live.get().next.is_none());
        // Removed, the app is back on the shared key.
        std::fs::remove_dir_all(scope.dir(dir.path())).unwrap();
        assert_eq!(live.for_app("demo").active.fingerprint, shared);
    }
}
