//! Signing-key rollover as an admin does it from the console or the API: stage the next key
//! (published in metadata, not yet signing), then activate it. The keys are files under
//! `certs_dir` (an app's own under `certs_dir/apps/{slug}`); the running server picks a
//! change up at once (`saml::keyring`) and each change is an event.

use serde_json::json;

use std::path::Path;

use super::keys::{self, KeyError, KeyKind, KeyScope, KeySet};
use crate::directory::Actor;
use crate::store::events::{self, NewEvent};
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    /// Not possible in the current state (nothing staged, already staged).
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Keys(KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KeyError> for RolloverError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::State(m) => RolloverError::State(m),
            other => RolloverError::Keys(other),
        }
    }
}

async fn record(
    db: &Db,
    actor: &Actor,
    name: &'static str,
    scope: &KeyScope,
    set: Option<&KeySet>,
) -> Result<(), RolloverError> {
    let mut conn = db.write().await?;
    let app_slug = match scope {
        KeyScope::App(slug) => Some(slug.clone()),
        KeyScope::Shared => None,
    };
    let e = NewEvent {
        name,
        actor: actor.0.clone(),
        app_slug,
        outcome: "success",
        detail: json!({ "active": set.map(|s| s.active.fingerprint.clone()),
                        "kind": set.map(|s| s.active.kind),
                        "next": set.and_then(|s| s.next.as_ref()).map(|k| k.fingerprint.clone()) }),
        ..Default::default()
    };
    events::insert(&mut conn, &e).await?;
    Ok(())
}

/// Creates the next key of `scope`, published in its metadata but not yet signing.
pub async fn stage_next(
    db: &Db,
    certs_dir: &Path,
    actor: &Actor,
    scope: &KeyScope,
    kind: KeyKind,
) -> Result<KeySet, RolloverError> {
    if KeySet::load(&dir_of(scope, certs_dir)?)?.is_none() {
        return Err(RolloverError::State(format!(
            "{} signs with the shared IdP key; give it its own key first",
            scope.label()
        )));
    }
    let set = keys::stage_next(&dir_of(scope, certs_dir)?, kind)?;
    record(db, actor, "key_stage_next", scope, Some(&set)).await?;
    Ok(set)
}

/// Makes the staged key of `scope` the one that signs.
pub async fn activate_next(
    db: &Db,
    certs_dir: &Path,
    actor: &Actor,
    scope: &KeyScope,
) -> Result<KeySet, RolloverError> {
    if KeySet::load(&dir_of(scope, certs_dir)?)?.is_none() {
        return Err(RolloverError::State(format!(
            "{} signs with the shared IdP key; it has no next key",
            scope.label()
        )));
    }
    let set = keys::activate_next(&dir_of(scope, certs_dir)?)?;
    record(db, actor, "key_activate_next", scope, Some(&set)).await?;
    Ok(set)
}

/// The scope's directory, refusing a slug that is not one (it may come from a URL).
fn dir_of(scope: &KeyScope, certs_dir: &Path) -> Result<std::path::PathBuf, RolloverError> {
    scope
        .dir_checked(certs_dir)
        .ok_or_else(|| RolloverError::State("there is no application by that name".into()))
}

/// Deletes an app (`directory::apps::delete`) and its own key files with it, so that a new
/// app with its slug starts on the shared key rather than the old private key. The one way
/// the console, the API and the CLI delete an app.
pub async fn delete_app(
    db: &Db,
    certs_dir: &Path,
    actor: &Actor,
    slug: &str,
) -> Result<(), crate::directory::DirectoryError> {
    crate::directory::apps::delete(db, actor, slug).await?;
    forget_app(certs_dir, slug);
    Ok(())
}

fn forget_app(certs_dir: &Path, slug: &str) {
    if let Ok(dir) = dir_of(&KeyScope::App(slug.to_string()), certs_dir) {
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(app = slug, error = %e, "could not remove the deleted app's key files");
            }
        }
    }
}

/// Gives an app its own key (it stops signing with the shared one at once: its SP must get
/// the new certificate or metadata first).
pub async fn own_key(
    db: &Db,
    certs_dir: &Path,
    actor: &Actor,
    slug: &str,
    kind: KeyKind,
) -> Result<KeySet, RolloverError> {
    let scope = KeyScope::App(slug.to_string());
    let set = keys::generate(&dir_of(&scope, certs_dir)?, kind, false)?;
    record(db, actor, "key_app_own", &scope, Some(&set)).await?;
    Ok(set)
}

/// An app goes back to the shared IdP key; its own key files are removed.
pub async fn shared_key(
    db: &Db,
    certs_dir: &Path,
    actor: &Actor,
    slug: &str,
) -> Result<(), RolloverError> {
    let scope = KeyScope::App(slug.to_string());
    if KeySet::load(&dir_of(&scope, certs_dir)?)?.is_none() {
        return Err(RolloverError::State(format!(
            "app {slug} already signs with the shared IdP key"
        )));
    }
    let dir = dir_of(&scope, certs_dir)?;
    std::fs::remove_dir_all(&dir).map_err(|source| {
        RolloverError::Keys(KeyError::Io {
            path: dir.clone(),
            source,
        })
    })?;
    record(db, actor, "key_app_shared", &scope, None).await?;
    Ok(())
}
