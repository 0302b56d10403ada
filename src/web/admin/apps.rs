//! Console: the application list, the catalog, the General and User Groups tabs, delete.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::pages::{AppsPage, CatalogEntry, CatalogPage, Chrome, GeneralPage, GroupsTab};
use super::{confirmed_delete, done, on, AdminUser};
use crate::app::AppState;
use crate::directory::apps::{self, AppChanges};
use crate::directory::{catalog, groups, users, DirectoryError};
use crate::error::AppError;
use crate::web::form::HtmlForm;
use crate::web::pages::render;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn list(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Response, AppError> {
    let apps = apps::search(&state.db, &s.q).await?;
    Ok(render(&AppsPage {
        c: Chrome::new(&admin, "apps").await,
        q: s.q,
        apps,
    }))
}

pub async fn catalog(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Response, AppError> {
    let taken: Vec<String> = apps::list(&state.db)
        .await?
        .into_iter()
        .map(|a| a.slug)
        .collect();
    let templates = catalog::search(&s.q)
        .into_iter()
        .map(|t| CatalogEntry {
            slug: catalog::free_slug(t, &taken),
            provisioning: catalog::provisioning_facts(t),
            t,
        })
        .collect();
    Ok(render(&CatalogPage {
        c: Chrome::new(&admin, "apps").await,
        q: s.q,
        templates,
        base_url: state.config.base_url.to_string(),
    }))
}

#[derive(Deserialize)]
pub struct NewApp {
    template: String,
    slug: String,
    label: String,
}

pub async fn create(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<NewApp>,
) -> Result<Response, AppError> {
    let changes = AppChanges {
        label: Some(f.label),
        ..AppChanges::default()
    };
    match apps::add(
        &state.db,
        &admin.actor(),
        f.slug.trim(),
        &f.template,
        &changes,
    )
    .await
    {
        Ok(app) => {
            let to = format!("/admin/apps/{}/sso", app.slug);
            let msg = format!("{} added. Next: its SSO settings.", app.label);
            let msg = msg + &label_warning(&state, &app.slug, &app.label).await?;
            Ok(done(&admin.session, Ok(msg), &to).await)
        }
        Err(e) => Ok(done(&admin.session, Err(e.to_string()), "/admin/apps/new").await),
    }
}

pub async fn general(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let app = apps::get(&state.db, &slug).await?;
    Ok(render(&GeneralPage {
        c: Chrome::new(&admin, "apps").await,
        idp_url: crate::saml::settings::sso_url(&state.config.base_url, &app.slug),
        app,
        tab: "general",
    }))
}

#[derive(Deserialize)]
pub struct GeneralForm {
    label: String,
    description: String,
    color: String,
    show_in_portal: Option<String>,
    enabled: Option<String>,
}

pub async fn update(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<GeneralForm>,
) -> Result<Response, AppError> {
    let changes = AppChanges {
        label: Some(f.label),
        description: Some(f.description),
        color: Some(f.color),
        show_in_portal: Some(on(&f.show_in_portal)),
        enabled: Some(on(&f.enabled)),
        sso_enabled: None,
    };
    let r = match apps::update(&state.db, &admin.actor(), &slug, &changes).await {
        Ok(a) => Ok(format!("Saved {}.", a.label) + &label_warning(&state, &slug, &a.label).await?),
        Err(e) => Err(e.to_string()),
    };
    Ok(done(&admin.session, r, &format!("/admin/apps/{slug}")).await)
}

/// " Note: …" when other apps have the same label (users would see two alike tiles).
async fn label_warning(state: &AppState, slug: &str, label: &str) -> Result<String, AppError> {
    let same = apps::same_label(&state.db, slug).await?;
    Ok(if same.is_empty() {
        String::new()
    } else {
        format!(
            " Note: {} also labelled “{label}”; users will see tiles they cannot tell apart.",
            match same.as_slice() {
                [one] => format!("app {one} is"),
                many => format!("apps {} are", many.join(", ")),
            }
        )
    })
}

#[derive(Deserialize)]
pub struct Confirm {
    confirm: String,
}

pub async fn delete(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<Confirm>,
) -> Result<Response, AppError> {
    let here = format!("/admin/apps/{slug}");
    let actor = admin.actor();
    let delete = crate::saml::rollover::delete_app(&state.db, state.keys.dir(), &actor, &slug);
    let what = (f.confirm.as_str(), slug.as_str(), "the application");
    Ok(confirmed_delete(&admin.session, what, (&here, "/admin/apps"), delete).await)
}

pub async fn groups(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let detail = apps::show(&state.db, &slug).await?;
    let groups = groups::list(&state.db)
        .await?
        .into_iter()
        .map(|g| {
            let bound = detail.groups.contains(&g.name);
            (g, bound)
        })
        .collect();
    let usernames = users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| u.username)
        .filter(|u| !detail.users.contains(u))
        .take(1000)
        .collect();
    Ok(render(&GroupsTab {
        c: Chrome::new(&admin, "apps").await,
        app: detail.app,
        tab: "groups",
        groups,
        assigned: detail.users,
        usernames,
    }))
}

#[derive(Deserialize)]
pub struct AssignForm {
    /// One or more usernames, separated by commas, spaces or lines.
    username: String,
    /// `add` or `remove`.
    action: String,
}

/// Assigns users to the app directly (several at once), or takes one assignment back.
pub async fn set_users(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<AssignForm>,
) -> Result<Response, AppError> {
    let grant = f.action != "remove";
    let names = super::typed_names(&f.username);
    let mut done_for = Vec::new();
    let mut refused = Vec::new();
    for name in &names {
        match apps::set_assignment(&state.db, &admin.actor(), &slug, name, grant).await {
            Ok(_) => done_for.push(*name),
            Err(DirectoryError::NotFound(m)) => refused.push(m),
            Err(e) => return Err(e.into()),
        }
    }
    let verb = if grant { "Assigned" } else { "Unassigned" };
    let r = match (done_for.is_empty(), refused.is_empty()) {
        (true, true) => Err("Type one or more usernames.".to_string()),
        (_, true) => Ok(format!("{verb}: {}.", done_for.join(", "))),
        (true, false) => Err(refused.join("; ")),
        (false, false) => Err(format!(
            "{verb}: {}. Not found: {}",
            done_for.join(", "),
            refused.join("; ")
        )),
    };
    Ok(done(&admin.session, r, &format!("/admin/apps/{slug}/groups")).await)
}

/// Binds the checked groups and unbinds the others.
pub async fn set_groups(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let wanted: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "group")
        .map(|(_, v)| v)
        .collect();
    let detail = apps::show(&state.db, &slug).await?;
    let actor = admin.actor();
    let mut changes = 0;
    for g in groups::list(&state.db).await? {
        let want = wanted.contains(&&g.name);
        if want != detail.groups.contains(&g.name)
            && apps::set_binding(&state.db, &actor, &slug, &g.name, want).await?
        {
            changes += 1;
        }
    }
    let to = format!("/admin/apps/{slug}/groups");
    Ok(done(
        &admin.session,
        Ok(format!("Saved: {changes} change(s).")),
        &to,
    )
    .await)
}

/// The logo form (multipart): a PNG or SVG file, or `remove`.
pub async fn upload_logo(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    mut form: axum::extract::Multipart,
) -> Result<Response, AppError> {
    let mut file = None;
    let mut remove = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(AppError::BadRequest(format!(
                    "The upload could not be read: {e}"
                )))
            }
        };
        match field.name() {
            Some("logo") => {
                let bytes = field.bytes().await.map_err(|e| {
                    AppError::BadRequest(format!("The upload could not be read: {e}"))
                })?;
                file = Some(bytes);
            }
            Some("remove") => remove = true,
            _ => {}
        }
    }
    let bytes = if remove {
        None
    } else {
        Some(file.unwrap_or_default())
    };
    let r = apps::set_logo(&state.db, &admin.actor(), &slug, bytes.as_deref())
        .await
        .map(|a| {
            if a.logo_type.is_empty() {
                "Logo removed; the tile shows its colour.".to_string()
            } else {
                "Logo saved.".to_string()
            }
        })
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &format!("/admin/apps/{slug}")).await)
}
