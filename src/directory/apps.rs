//! App operations: create from a catalog template, change settings, bind and unbind
//! groups, delete. The slug is fixed at creation (the SP has the IdP URL configured).

use serde_json::json;

use super::catalog;
use super::names::{text, Color, Slug};
use super::{audit, groups, Actor, App, DirectoryError};
use crate::store::apps::{self, AppSettings};
use crate::store::scim;
use crate::store::{Conn, Db};

/// Changes to an app's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    pub label: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub show_in_portal: Option<bool>,
    pub enabled: Option<bool>,
    pub sso_enabled: Option<bool>,
}

pub(crate) async fn find(conn: &mut Conn, slug: &str) -> Result<App, DirectoryError> {
    apps::by_slug(conn, slug)
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("no app with slug {slug:?}")))
}

pub async fn get(db: &Db, slug: &str) -> Result<App, DirectoryError> {
    let mut conn = db.read().await?;
    find(&mut conn, slug).await
}

pub async fn list(db: &Db) -> Result<Vec<App>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(apps::list(&mut conn).await?)
}

/// The apps matching a search box (slug, label, description, template).
pub async fn search(db: &Db, q: &str) -> Result<Vec<App>, DirectoryError> {
    let mut all = list(db).await?;
    all.retain(|a| super::matches(q, &[&a.slug, &a.label, &a.description, &a.template]));
    Ok(all)
}

/// The other apps with the same label as `slug` (whatever the case): two tiles a user cannot
/// tell apart. A warning, not a refusal (two tenants of one vendor may both be "Jira").
pub async fn same_label(db: &Db, slug: &str) -> Result<Vec<String>, DirectoryError> {
    let all = list(db).await?;
    let Some(label) = all
        .iter()
        .find(|a| a.slug == slug)
        .map(|a| a.label.to_lowercase())
    else {
        return Ok(Vec::new());
    };
    Ok(all
        .into_iter()
        .filter(|a| a.slug != slug && a.label.to_lowercase() == label)
        .map(|a| a.slug)
        .collect())
}

/// An app with the groups bound to it and the users assigned to it directly.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AppDetail {
    #[serde(flatten)]
    pub app: App,
    pub groups: Vec<String>,
    /// Users assigned directly, beside the groups.
    pub users: Vec<String>,
}

pub async fn show(db: &Db, slug: &str) -> Result<AppDetail, DirectoryError> {
    let mut conn = db.read().await?;
    let app = find(&mut conn, slug).await?;
    let groups = apps::bound_group_names(&mut conn, app.id).await?;
    let users = apps::assigned_usernames(&mut conn, app.id).await?;
    Ok(AppDetail { app, groups, users })
}

/// Assigns (`grant == true`) a user to the app directly, or takes the assignment back
/// (a group may still grant the app). Doing what is already so writes no event.
pub async fn set_assignment(
    db: &Db,
    actor: &Actor,
    slug: &str,
    username: &str,
    grant: bool,
) -> Result<bool, DirectoryError> {
    let mut tx = db.begin().await?;
    let app = find(&mut tx, slug).await?;
    let user = super::users::find(&mut tx, username).await?;
    let changed = apps::assign(&mut tx, app.id, user.id, grant).await?;
    if changed {
        scim::enqueue_user(&mut tx, user.id).await?;
        let name = if grant {
            "app_user_assign"
        } else {
            "app_user_unassign"
        };
        audit(
            &mut tx,
            actor,
            name,
            Some(slug),
            Some(&user.username),
            json!({}),
        )
        .await?;
    }
    tx.commit_app_change().await?;
    Ok(changed)
}

/// The settings an app has now.
pub fn settings_of(app: &App) -> AppSettings {
    AppSettings {
        label: app.label.clone(),
        description: app.description.clone(),
        color: app.color.clone(),
        show_in_portal: app.show_in_portal,
        enabled: app.enabled,
        sso_enabled: app.sso_enabled,
    }
}

/// The settings a new app starts with: its template's.
pub fn template_settings(template: &str) -> Result<AppSettings, DirectoryError> {
    let t = catalog::template(template)?;
    Ok(AppSettings {
        label: t.label.to_string(),
        description: t.description.to_string(),
        color: t.color.to_string(),
        show_in_portal: true,
        enabled: true,
        sso_enabled: true,
    })
}

/// `s` with `c` applied and checked, without storing anything (`apply`'s plan uses it).
pub fn revise(mut s: AppSettings, c: &AppChanges) -> Result<AppSettings, DirectoryError> {
    if let Some(label) = &c.label {
        let label = text("label", label, 100)?;
        if label.is_empty() {
            return Err(DirectoryError::Invalid("label must not be empty".into()));
        }
        s.label = label;
    }
    if let Some(d) = &c.description {
        s.description = text("description", d, 500)?;
    }
    if let Some(color) = &c.color {
        s.color = Color::parse(color)?.as_str().to_string();
    }
    s.show_in_portal = c.show_in_portal.unwrap_or(s.show_in_portal);
    s.enabled = c.enabled.unwrap_or(s.enabled);
    s.sso_enabled = c.sso_enabled.unwrap_or(s.sso_enabled);
    Ok(s)
}

pub async fn add(
    db: &Db,
    actor: &Actor,
    slug: &str,
    template: &str,
    changes: &AppChanges,
) -> Result<App, DirectoryError> {
    let slug = Slug::parse(slug)?;
    let t = catalog::template(template)?;
    let settings = revise(template_settings(template)?, changes)?;
    let mut tx = db.begin().await?;
    if apps::by_slug(&mut tx, slug.as_str()).await?.is_some() {
        return Err(DirectoryError::Duplicate(format!(
            "an app with slug {:?} already exists",
            slug.as_str()
        )));
    }
    apps::insert(&mut tx, slug.as_str(), t.name, &settings).await?;
    audit(
        &mut tx,
        actor,
        "app_create",
        Some(slug.as_str()),
        None,
        json!({ "template": t.name, "settings": settings }),
    )
    .await?;
    let app = find(&mut tx, slug.as_str()).await?;
    tx.commit_app_change().await?;
    Ok(app)
}

pub async fn update(
    db: &Db,
    actor: &Actor,
    slug: &str,
    changes: &AppChanges,
) -> Result<App, DirectoryError> {
    let mut tx = db.begin().await?;
    let app = find(&mut tx, slug).await?;
    let before = settings_of(&app);
    let after = revise(before.clone(), changes)?;
    if after != before {
        apps::update(&mut tx, app.id, &after).await?;
        if after.enabled != before.enabled {
            scim::enqueue_app(&mut tx, app.id).await?;
        }
        audit(
            &mut tx,
            actor,
            "app_update",
            Some(slug),
            None,
            json!({ "from": before, "to": after }),
        )
        .await?;
    }
    let app = find(&mut tx, slug).await?;
    tx.commit_app_change().await?;
    Ok(app)
}

pub async fn delete(db: &Db, actor: &Actor, slug: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let app = find(&mut tx, slug).await?;
    apps::delete(&mut tx, app.id).await?;
    audit(
        &mut tx,
        actor,
        "app_delete",
        Some(slug),
        None,
        json!({ "label": app.label }),
    )
    .await?;
    tx.commit_app_change().await?;
    Ok(())
}

/// Binds (`grant == true`) or unbinds a group. Doing what is already so writes no event.
pub async fn set_binding(
    db: &Db,
    actor: &Actor,
    slug: &str,
    group: &str,
    grant: bool,
) -> Result<bool, DirectoryError> {
    let mut tx = db.begin().await?;
    let app = find(&mut tx, slug).await?;
    let g = groups::find(&mut tx, group).await?;
    let changed = if grant {
        apps::bind(&mut tx, app.id, g.id).await?
    } else {
        apps::unbind(&mut tx, app.id, g.id).await?
    };
    if changed {
        scim::enqueue_group(&mut tx, g.id, Some(app.id)).await?;
        scim::enqueue_group_push(&mut tx, g.id).await?;
        let name = if grant {
            "app_group_bind"
        } else {
            "app_group_unbind"
        };
        audit(
            &mut tx,
            actor,
            name,
            Some(slug),
            None,
            json!({ "group": g.name }),
        )
        .await?;
    }
    tx.commit_app_change().await?;
    Ok(changed)
}

/// Sets the app's logo (checked by [`super::logo::check`]); `None` removes it.
pub async fn set_logo(
    db: &Db,
    actor: &Actor,
    slug: &str,
    bytes: Option<&[u8]>,
) -> Result<App, DirectoryError> {
    let kind = match bytes {
        Some(b) => super::logo::check(b)?,
        None => "",
    };
    let mut tx = db.begin().await?;
    let app = find(&mut tx, slug).await?;
    apps::set_logo(&mut tx, app.id, kind, bytes).await?;
    let detail = match bytes {
        Some(b) => json!({ "logo": kind, "bytes": b.len() }),
        None => json!({ "logo": "removed" }),
    };
    audit(&mut tx, actor, "app_logo_update", Some(slug), None, detail).await?;
    let app = find(&mut tx, slug).await?;
    tx.commit_app_change().await?;
    Ok(app)
}

/// The app's logo, if it has one: content type and bytes.
pub async fn logo(db: &Db, slug: &str) -> Result<Option<(String, Vec<u8>)>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(apps::logo(&mut conn, slug).await?)
}
