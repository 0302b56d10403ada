//! Provisioning scope (issue 16): whom a target provisions. The one decision, called by the
//! worker (`sync`), the dry run and the counts (`control`), and the batch rejection
//! (`target::reject`):
//!
//! - scope `assigned`: those who may use the app (`directory::access`, the one access rule)
//!   that the scoping filters keep;
//! - scope `all`: every active user (while the app is enabled) that the filters keep.
//!
//! Scope never grants SSO: signing in and the portal ask `access::may_use` alone (as in
//! Entra, where "sync all users" provisions accounts but does not assign the app).

use std::collections::HashMap;

use super::filter::{Filters, Subject};
use super::target::Scope;
use crate::directory::{access, DirectoryError, User};
use crate::store::scim::TargetRow;
use crate::store::{groups, users, Conn};

/// The ids the scope names before the filters.
async fn base(
    conn: &mut Conn,
    app_id: i64,
    scope: Scope,
    user_id: Option<i64>,
) -> Result<Vec<i64>, DirectoryError> {
    match (scope, user_id) {
        (Scope::All, _) => access::active_users(conn, app_id, user_id).await,
        (Scope::Assigned, None) => access::users_of(conn, app_id).await,
        (Scope::Assigned, Some(u)) => Ok(if access::may_use(conn, u, app_id).await? {
            vec![u]
        } else {
            Vec::new()
        }),
    }
}

/// Whether the target `row` provisions `user`.
pub async fn includes(
    conn: &mut Conn,
    row: &TargetRow,
    user: &User,
) -> Result<bool, DirectoryError> {
    if base(conn, row.app_id, row.scope, Some(user.id))
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    if row.filters.is_empty() {
        return Ok(true);
    }
    let groups = if row.filters.reads_groups() {
        groups::names_of_user(conn, user.id).await?
    } else {
        Vec::new()
    };
    Ok(row.filters.keeps(&Subject {
        user,
        groups: &groups,
    }))
}

/// The ids of every user the target `row` provisions, ascending.
pub async fn members(conn: &mut Conn, row: &TargetRow) -> Result<Vec<i64>, DirectoryError> {
    let ids = base(conn, row.app_id, row.scope, None).await?;
    if row.filters.is_empty() {
        return Ok(ids);
    }
    // The whole directory in two queries rather than two per user.
    let everyone: HashMap<i64, User> = users::list(conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut names: HashMap<i64, Vec<String>> = HashMap::new();
    if row.filters.reads_groups() {
        for (user, group) in groups::memberships_by_name(conn).await? {
            names.entry(user).or_default().push(group);
        }
    }
    Ok(kept(&row.filters, ids, &everyone, &names))
}

fn kept(
    filters: &Filters,
    ids: Vec<i64>,
    users: &HashMap<i64, User>,
    groups: &HashMap<i64, Vec<String>>,
) -> Vec<i64> {
    ids.into_iter()
        .filter(|id| {
            users.get(id).is_some_and(|user| {
                let groups = groups.get(id).map_or(&[][..], Vec::as_slice);
                filters.keeps(&Subject { user, groups })
            })
        })
        .collect()
}
