//! Inbound SCIM sources: a name and a bearer token, shown once at creation and stored as
//! SHA-256 only (as admin API tokens are, `auth::tokens`). A source token works on
//! `/scim/v2` only; admin tokens (another prefix, another table) never do.

use serde_json::json;

use super::Source;
use crate::auth::csrf;
use crate::directory::{audit, Actor, DirectoryError};
use crate::store::inbound::{self, SourceRow};
use crate::store::{self, Db};

const PREFIX: &str = "scim_";

fn check_name(name: &str) -> Result<(), DirectoryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(format!(
            "source name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Creates a source and returns its token: the only time it is shown.
pub async fn create(db: &Db, actor: &Actor, name: &str) -> Result<String, DirectoryError> {
    check_name(name)?;
    let token = format!("{PREFIX}{}", csrf::random_token(32));
    let mut tx = db.begin().await?;
    if inbound::by_name(&mut tx, name).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "a SCIM source named {name:?} already exists"
        )));
    }
    inbound::insert(&mut tx, name, &store::sha256_hex(&token)).await?;
    audit(
        &mut tx,
        actor,
        "scim_source_create",
        None,
        None,
        json!({ "source": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn list(db: &Db) -> Result<Vec<SourceRow>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(inbound::list(&mut conn).await?)
}

/// Revokes the token (401 from then on) and releases the users and groups the source
/// owned: admins manage them by hand from then on.
pub async fn revoke(db: &Db, actor: &Actor, name: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let Some(row) = inbound::by_name(&mut tx, name).await? else {
        return Err(DirectoryError::NotFound(format!(
            "no SCIM source named {name:?}"
        )));
    };
    if row.revoked_at.is_none() {
        let released = inbound::revoke(&mut tx, row.id).await?;
        audit(
            &mut tx,
            actor,
            "scim_source_revoke",
            None,
            None,
            json!({ "source": name, "released": released }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The live source a bearer token belongs to. Only the token's hash is looked up.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Source>, DirectoryError> {
    if !token.starts_with(PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let mut conn = db.read().await?;
    let Some(row) = inbound::by_hash(&mut conn, &store::sha256_hex(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    drop(conn);
    inbound::touch(&mut *db.write().await?, row.id).await?;
    Ok(Some(Source {
        id: row.id,
        name: row.name,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::check_name("entra-prod").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(super::check_name(bad).is_err(), "{bad:?}");
        }
    }
}
