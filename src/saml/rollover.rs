//! Signing-key rollover as an admin does it from the console or the API: stage the next key
//! (published in metadata, not yet signing), then activate it. The keys are files under
//! `certs_dir`; the running server picks the change up at once and the change is an event.

use serde_json::json;

use super::keys::{self, KeyError, KeyKind, KeySet, LiveKeys};
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
    set: &KeySet,
) -> Result<(), RolloverError> {
    let mut conn = db.write().await?;
    let e = NewEvent {
        name,
        actor: actor.0.clone(),
        outcome: "success",
        detail: json!({ "active": set.active.fingerprint,
                        "next": set.next.as_ref().map(|k| k.fingerprint.clone()) }),
        ..Default::default()
    };
    events::insert(&mut conn, &e).await?;
    Ok(())
}

pub async fn stage_next(
    db: &Db,
    live: &LiveKeys,
    actor: &Actor,
    kind: KeyKind,
) -> Result<KeySet, RolloverError> {
    let set = keys::stage_next(live.dir(), kind)?;
    live.refresh();
    record(db, actor, "key_stage_next", &set).await?;
    Ok(set)
}

pub async fn activate_next(
    db: &Db,
    live: &LiveKeys,
    actor: &Actor,
) -> Result<KeySet, RolloverError> {
    let set = keys::activate_next(live.dir())?;
    live.refresh();
    record(db, actor, "key_activate_next", &set).await?;
    Ok(set)
}
