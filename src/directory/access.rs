//! "A user may use an app iff the user is active and a member of a group bound to the
//! enabled app" (PRODUCT §2). The portal, SSO and provisioning all ask here; the rule itself
//! is the single query `store::apps::grants`.

use super::{App, DirectoryError};
use crate::store::{apps, Conn};

/// Whether `user_id` may use `app_id` right now.
pub async fn may_use(conn: &mut Conn, user_id: i64, app_id: i64) -> Result<bool, DirectoryError> {
    Ok(!apps::grants(conn, Some(user_id), Some(app_id))
        .await?
        .is_empty())
}

/// The apps `user_id` may use, sorted by label.
pub async fn apps_for(conn: &mut Conn, user_id: i64) -> Result<Vec<App>, DirectoryError> {
    let ids: Vec<i64> = apps::grants(&mut *conn, Some(user_id), None)
        .await?
        .into_iter()
        .map(|(_, app)| app)
        .collect();
    Ok(apps::by_ids(conn, &ids).await?)
}

/// The ids of the users who may use `app_id` (provisioning's "assigned" scope starts here:
/// `scim::scope`).
pub async fn users_of(conn: &mut Conn, app_id: i64) -> Result<Vec<i64>, DirectoryError> {
    Ok(apps::grants(conn, None, Some(app_id))
        .await?
        .into_iter()
        .map(|(user, _)| user)
        .collect())
}

/// Every active user while `app_id` is enabled, or just `user_id` when given and active:
/// provisioning's "all users" scope (`scim::scope`). Never a grant: SSO and the portal ask
/// `may_use` whatever a target's scope.
pub async fn active_users(
    conn: &mut Conn,
    app_id: i64,
    user_id: Option<i64>,
) -> Result<Vec<i64>, DirectoryError> {
    Ok(apps::everyone(conn, app_id, user_id).await?)
}

/// The portal's tiles: the apps the user may use that are shown in the portal, whose SSO is
/// on, and whose SSO is set up enough to sign someone in (an SP entity ID and an ACS URL:
/// the launch refuses the others the same way, as "not set up yet").
pub async fn tiles_for(conn: &mut Conn, user_id: i64) -> Result<Vec<App>, DirectoryError> {
    let mut tiles = Vec::new();
    for a in apps_for(conn, user_id).await? {
        if !(a.show_in_portal && a.sso_enabled) {
            continue;
        }
        let ready = crate::store::sso::get(conn, a.id)
            .await?
            .is_some_and(|s| s.missing().is_empty());
        if ready {
            tiles.push(a);
        }
    }
    Ok(tiles)
}
