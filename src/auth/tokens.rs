//! Admin API tokens (`sesame admin-token create`): random bearer tokens, stored as SHA-256
//! only (like session ids), revocable. A token acts as its owner: it works while the owner
//! is an active admin, so demoting or suspending an admin disarms their tokens too.

use serde_json::json;

use super::csrf;
use crate::directory::{audit, users, Actor, DirectoryError, User};
use crate::store::{self, tokens, Db};

pub use crate::store::tokens::TokenRow;

/// What a presented token turned out to be.
#[derive(Debug)]
pub enum Verdict {
    /// A live token of an active admin.
    Admin(Box<User>, String),
    /// A live token whose owner is no longer an admin.
    NotAdmin,
    /// Unknown, revoked, or the owner is suspended or gone.
    Invalid,
}

const PREFIX: &str = "ses_";

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
            "token name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Creates a token for `owner` (an active admin) and returns it: the only time it is shown.
pub async fn create(
    db: &Db,
    actor: &Actor,
    name: &str,
    owner: &str,
) -> Result<String, DirectoryError> {
    check_name(name)?;
    let token = format!("{PREFIX}{}", csrf::random_token(32));
    let mut tx = db.begin().await?;
    let user = users::find(&mut tx, owner).await?;
    if !user.is_admin || !user.active {
        return Err(DirectoryError::Invalid(format!(
            "{owner} is not an active admin: a token acts as its owner and needs one"
        )));
    }
    if tokens::by_name(&mut tx, name).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "a token named {name:?} already exists"
        )));
    }
    tokens::insert(&mut tx, name, &store::sha256_hex(&token), user.id).await?;
    audit(
        &mut tx,
        actor,
        "admin_token_create",
        None,
        Some(&user.username),
        json!({ "token": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn list(db: &Db) -> Result<Vec<TokenRow>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(tokens::list(&mut conn).await?)
}

pub async fn revoke(db: &Db, actor: &Actor, name: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let Some(row) = tokens::by_name(&mut tx, name).await? else {
        return Err(DirectoryError::NotFound(format!("no token named {name:?}")));
    };
    if row.revoked_at.is_none() {
        tokens::revoke(&mut tx, row.id).await?;
        audit(
            &mut tx,
            actor,
            "admin_token_revoke",
            None,
            Some(&row.owner),
            json!({ "token": name }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Checks a bearer token. Only its hash is looked up, so the comparison leaks nothing
/// about stored tokens (an equality lookup on a SHA-256 of 256 random bits).
pub async fn authenticate(db: &Db, token: &str) -> Result<Verdict, DirectoryError> {
    if !token.starts_with(PREFIX) || token.len() > 128 {
        return Ok(Verdict::Invalid);
    }
    let mut conn = db.read().await?;
    let Some(row) = tokens::by_hash(&mut conn, &store::sha256_hex(token)).await? else {
        return Ok(Verdict::Invalid);
    };
    if row.revoked_at.is_some() {
        return Ok(Verdict::Invalid);
    }
    let Some(owner) = store::users::by_id(&mut conn, row.owner_id).await? else {
        return Ok(Verdict::Invalid);
    };
    if !owner.active {
        return Ok(Verdict::Invalid);
    }
    if !owner.is_admin {
        return Ok(Verdict::NotAdmin);
    }
    drop(conn);
    tokens::touch(&mut *db.write().await?, row.id).await?;
    Ok(Verdict::Admin(Box::new(owner), row.name))
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn token_names() {
        assert!(check_name("ci-deploy.1").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
