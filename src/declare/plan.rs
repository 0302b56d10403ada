//! From a declaration and the directory as it is, the steps that make them agree. Every
//! setting is checked here by the same pure functions the console, API and CLI use
//! (`apps::revise`, `settings::revise`, `target::revise`), so a plan that is shown can be
//! applied, and a second plan after applying is empty.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::file::{AdminDecl, AppDecl, Declaration, GroupDecl, ScimDecl, SecretRef, SsoDecl};
use super::{DeclareError, Kind, Plan, Step};
use crate::auth::password::Password;
use crate::directory::apps::{self as app_ops, AppChanges};
use crate::directory::users::UserFields;
use crate::directory::{App, DirectoryError};
use crate::saml::settings::{self, SsoChanges};
use crate::scim::secret::{SealKey, Secret};
use crate::scim::target::{self, Changes, Credential, Switch, TargetState};
use crate::store::{apps, groups, scim, sso, users, Conn, Db};

/// What one step does, in the terms of the domain operation that does it.
#[derive(Debug, Clone)]
pub enum Action {
    CreateAdmin(String, UserFields, Option<Password>),
    UpdateUser(String, UserFields),
    CreateGroup(String, String),
    DescribeGroup(String, String),
    DeleteGroup(String),
    Member {
        group: String,
        user: String,
        add: bool,
    },
    CreateApp(String, String, AppChanges),
    UpdateApp(String, AppChanges),
    DeleteApp(String),
    Sso(String, SsoChanges),
    Scim(String, Changes),
    Switch(String, Switch),
    Bind {
        app: String,
        group: String,
        grant: bool,
    },
    Assign {
        app: String,
        user: String,
        grant: bool,
    },
}

/// Reads the directory and plans. `dir` is the declaration file's directory (secret files
/// are relative to it); `prune` also deletes the apps and groups the file does not declare
/// and takes the admin role from accounts it does not list.
pub async fn plan(
    db: &Db,
    key: &SealKey,
    decl: &Declaration,
    dir: &Path,
    prune: bool,
) -> Result<Plan, DeclareError> {
    let mut conn = db.read().await?;
    let mut steps = Vec::new();
    for a in &decl.admins {
        let what = format!("admin {:?}", a.username);
        admin(&mut conn, a, dir, &mut steps)
            .await
            .map_err(|e| e.about(&what))?;
    }
    let declared_groups: BTreeSet<String> =
        decl.groups.iter().map(|g| g.name.to_lowercase()).collect();
    for g in &decl.groups {
        let what = format!("group {:?}", g.name);
        group(&mut conn, g, &mut steps)
            .await
            .map_err(|e| e.about(&what))?;
    }
    for a in &decl.apps {
        let what = format!("app {:?}", a.slug);
        app(&mut conn, key, a, dir, &declared_groups, &mut steps)
            .await
            .map_err(|e| e.about(&what))?;
    }
    if prune {
        pruned(&mut conn, decl, &mut steps).await?;
    }
    // Deletions last: an app is unbound before a group it used goes.
    steps.sort_by_key(|s| s.kind == Kind::Delete);
    Ok(Plan { steps })
}

fn step(kind: Kind, what: String, detail: String, action: Action) -> Step {
    Step {
        kind,
        what,
        detail,
        action,
    }
}

async fn admin(
    conn: &mut Conn,
    a: &AdminDecl,
    dir: &Path,
    steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    let fields = UserFields {
        email: a.email.clone(),
        first_name: a.first_name.clone(),
        last_name: a.last_name.clone(),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let what = format!("admin {}", a.username);
    let Some(user) = users::by_key(conn, &a.username.to_lowercase()).await? else {
        if a.email.is_none() {
            return Err(DeclareError::File(format!(
                "admin {:?} does not exist yet: give an email to create it",
                a.username
            )));
        }
        let password = match &a.password {
            Some(r) => Some(Password::new(r.resolve(dir)?.expose().to_string())?),
            None => None,
        };
        let detail = if password.is_some() {
            "with the referenced password"
        } else {
            "without a password (set one before it can sign in)"
        };
        steps.push(step(
            Kind::Create,
            what,
            detail.into(),
            Action::CreateAdmin(a.username.clone(), fields, password),
        ));
        return Ok(());
    };
    let mut changed = Vec::new();
    let mut differs = |name: &str, want: &Option<String>, have: &str| {
        if want.as_deref().is_some_and(|w| w != have) {
            changed.push(format!(
                "{name}: {have:?} -> {:?}",
                want.as_deref().unwrap_or("")
            ));
        }
    };
    differs("email", &a.email, &user.email);
    differs("first_name", &a.first_name, &user.first_name);
    differs("last_name", &a.last_name, &user.last_name);
    if !user.is_admin {
        changed.push("made an admin".into());
    }
    if !changed.is_empty() {
        steps.push(step(
            Kind::Change,
            what,
            changed.join(", "),
            Action::UpdateUser(user.username, fields),
        ));
    }
    Ok(())
}

async fn group(conn: &mut Conn, g: &GroupDecl, steps: &mut Vec<Step>) -> Result<(), DeclareError> {
    let what = format!("group {}", g.name);
    let (name, members) = match groups::by_key(conn, &g.name.to_lowercase()).await? {
        None => {
            let description = g.description.clone().unwrap_or_default();
            steps.push(step(
                Kind::Create,
                what.clone(),
                String::new(),
                Action::CreateGroup(g.name.clone(), description),
            ));
            (g.name.clone(), Vec::new())
        }
        Some(existing) => {
            if let Some(d) = g
                .description
                .as_ref()
                .filter(|d| **d != existing.description)
            {
                steps.push(step(
                    Kind::Change,
                    what.clone(),
                    format!("description: {:?} -> {d:?}", existing.description),
                    Action::DescribeGroup(existing.name.clone(), d.clone()),
                ));
            }
            let members = groups::member_names(conn, existing.id).await?;
            (existing.name, members)
        }
    };
    let Some(wanted) = &g.members else {
        return Ok(());
    };
    for user in wanted {
        if users::by_key(conn, &user.to_lowercase()).await?.is_none() {
            return Err(DeclareError::File(format!(
                "group {:?} lists {user:?}, who is not a user of this directory",
                g.name
            )));
        }
    }
    let (add, remove) = set_difference(wanted, &members);
    for user in add {
        steps.push(member(&name, user, true));
    }
    for user in remove {
        steps.push(member(&name, user, false));
    }
    Ok(())
}

fn member(group: &str, user: String, add: bool) -> Step {
    let (kind, verb) = if add {
        (Kind::Create, "add")
    } else {
        (Kind::Delete, "remove")
    };
    step(
        kind,
        format!("group {group}"),
        format!("{verb} member {user}"),
        Action::Member {
            group: group.to_string(),
            user,
            add,
        },
    )
}

/// What `wanted` has and `have` lacks, and the reverse; names compare case-insensitively.
fn set_difference(wanted: &[String], have: &[String]) -> (Vec<String>, Vec<String>) {
    let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<BTreeSet<_>>();
    let (w, h) = (lower(wanted), lower(have));
    let add = wanted
        .iter()
        .filter(|s| !h.contains(&s.to_lowercase()))
        .cloned()
        .collect();
    let remove = have
        .iter()
        .filter(|s| !w.contains(&s.to_lowercase()))
        .cloned()
        .collect();
    (add, remove)
}

async fn app(
    conn: &mut Conn,
    key: &SealKey,
    a: &AppDecl,
    dir: &Path,
    declared_groups: &BTreeSet<String>,
    steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    let what = format!("app {}", a.slug);
    let changes = AppChanges {
        label: a.label.clone(),
        description: a.description.clone(),
        color: a.color.clone(),
        show_in_portal: a.show_in_portal,
        enabled: a.enabled,
        sso_enabled: a.sso_enabled,
    };
    let existing = apps::by_slug(conn, &a.slug).await?;
    let template = match &existing {
        Some(app) => app.template.clone(),
        None => a.template.clone().unwrap_or_else(|| "generic".into()),
    };
    match &existing {
        None => {
            crate::directory::names::Slug::parse(&a.slug).map_err(DeclareError::from)?;
            app_ops::revise(app_ops::template_settings(&template)?, &changes)?;
            steps.push(step(
                Kind::Create,
                what.clone(),
                format!("from the {template} template"),
                Action::CreateApp(a.slug.clone(), template.clone(), changes),
            ));
        }
        Some(app) => {
            let before = app_ops::settings_of(app);
            let after = app_ops::revise(before.clone(), &changes)?;
            if after != before {
                steps.push(step(
                    Kind::Change,
                    what.clone(),
                    fields_changed(&before, &after),
                    Action::UpdateApp(a.slug.clone(), changes),
                ));
            }
            if a.template.as_ref().is_some_and(|t| *t != app.template) {
                return Err(DeclareError::File(format!(
                    "app {:?} was made from the {} template; the template cannot change",
                    a.slug, app.template
                )));
            }
        }
    }
    if let Some(s) = &a.sso {
        sso_step(conn, &a.slug, existing.as_ref(), s, steps).await?;
    }
    // Provisioning is switched on after the bindings, so its first sync has them all.
    let mut switch = Vec::new();
    if let Some(s) = &a.scim {
        let ctx = (key, template.as_str(), dir);
        scim_steps(conn, ctx, &a.slug, existing.as_ref(), s, steps, &mut switch).await?;
    }
    if let Some(wanted) = &a.groups {
        let bound = match &existing {
            Some(app) => apps::bound_group_names(conn, app.id).await?,
            None => Vec::new(),
        };
        for g in wanted {
            let known = declared_groups.contains(&g.to_lowercase())
                || groups::by_key(conn, &g.to_lowercase()).await?.is_some();
            if !known {
                return Err(DeclareError::File(format!(
                    "app {:?} is bound to group {g:?}, which neither exists nor is declared",
                    a.slug
                )));
            }
        }
        let (bind, unbind) = set_difference(wanted, &bound);
        for (list, grant) in [(bind, true), (unbind, false)] {
            for group in list {
                let (kind, verb) = if grant {
                    (Kind::Create, "bind")
                } else {
                    (Kind::Delete, "unbind")
                };
                steps.push(step(
                    kind,
                    what.clone(),
                    format!("{verb} group {group}"),
                    Action::Bind {
                        app: a.slug.clone(),
                        group,
                        grant,
                    },
                ));
            }
        }
    }
    if let Some(wanted) = &a.users {
        assignments(conn, a, existing.as_ref(), wanted, steps).await?;
    }
    steps.append(&mut switch);
    Ok(())
}

async fn assignments(
    conn: &mut Conn,
    a: &AppDecl,
    existing: Option<&App>,
    wanted: &[String],
    steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    for u in wanted {
        if users::by_key(conn, &u.to_lowercase()).await?.is_none() {
            return Err(DeclareError::File(format!(
                "app {:?} is assigned to {u:?}, who is not a user of this directory",
                a.slug
            )));
        }
    }
    let assigned = match existing {
        Some(app) => apps::assigned_usernames(conn, app.id).await?,
        None => Vec::new(),
    };
    let (add, remove) = set_difference(wanted, &assigned);
    for (list, grant) in [(add, true), (remove, false)] {
        for user in list {
            let (kind, verb) = if grant {
                (Kind::Create, "assign")
            } else {
                (Kind::Delete, "unassign")
            };
            steps.push(step(
                kind,
                format!("app {}", a.slug),
                format!("{verb} user {user}"),
                Action::Assign {
                    app: a.slug.clone(),
                    user,
                    grant,
                },
            ));
        }
    }
    Ok(())
}

async fn sso_step(
    conn: &mut Conn,
    slug: &str,
    existing: Option<&App>,
    s: &SsoDecl,
    steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    let changes = SsoChanges {
        sp_entity_id: s.sp_entity_id.clone(),
        acs_urls: s.acs_urls.clone(),
        acs_indexes: s.acs_indexes.clone(),
        nameid_format: s.nameid_format.clone(),
        nameid_source: s.nameid_source.clone(),
        relay_state: s.relay_state.clone(),
        sign_response: s.sign_response,
        require_signed_requests: s.require_signed_requests,
        allow_sha1: s.allow_sha1,
        require_mfa: s.require_mfa,
        sp_certs_pem: s.sp_certs.clone(),
        idp_entity_id: s.idp_entity_id.clone(),
        attributes: s.attributes.clone(),
        slo_url: s.slo_url.clone(),
        slo_response_url: s.slo_response_url.clone(),
        slo_binding: s.slo_binding.clone(),
        encryption: s.encryption.clone(),
        sp_encryption_cert_pem: s.sp_encryption_cert.clone(),
    };
    let before = match existing {
        Some(app) => sso::get(conn, app.id).await?,
        None => None,
    }
    .unwrap_or_else(settings::defaults);
    let after = settings::revise(before.clone(), &changes)?;
    if after != before {
        steps.push(step(
            Kind::Change,
            format!("app {slug} sso"),
            fields_changed(&before, &after),
            Action::Sso(slug.to_string(), changes),
        ));
    }
    Ok(())
}

/// The settings step into `steps`, the activation or deactivation into `switch`.
async fn scim_steps(
    conn: &mut Conn,
    (key, template, dir): (&SealKey, &str, &Path),
    slug: &str,
    existing: Option<&App>,
    s: &ScimDecl,
    steps: &mut Vec<Step>,
    switch_steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    let stored = match existing {
        Some(app) => scim::target(conn, app.id).await?,
        None => None,
    };
    let before = stored.unwrap_or_else(|| target::blank(0, template));
    let wanted = wanted_credential(s, dir)?;
    let have = target::credential(key, &before)?;
    let credential = wanted.filter(|w| !same_credential(w, have.as_ref()));
    let notify_before = match existing {
        Some(app) => crate::store::mail::notify_address(conn, app.id)
            .await?
            .unwrap_or_default(),
        None => String::new(),
    };
    let notify = s.notify_email.clone().filter(|n| n.trim() != notify_before);
    let changes = Changes {
        url: s.url.clone(),
        connector: s.connector.clone(),
        credential: credential.clone(),
        deprovision: s.deprovision.clone(),
        push_groups: s.push_groups,
        password_sync: s.password_sync,
        deletion_threshold: s.deletion_threshold,
        // Exactly the declared list: every other optional attribute is included.
        exclude: s.exclude.clone().unwrap_or_default(),
        include: match &s.exclude {
            Some(list) => crate::scim::mapping::PATHS
                .iter()
                .filter(|(p, optional)| {
                    *optional && !list.iter().any(|x| x.eq_ignore_ascii_case(p))
                })
                .map(|(p, _)| p.to_string())
                .collect(),
            None => Vec::new(),
        },
        restore_defaults: false,
        notify_email: notify.clone(),
        scope: s.scope.clone(),
        filters: s.filters.as_ref().map(|lines| lines.join("\n")),
        matching: s.matching.as_ref().map(|m| m.join(",")),
        mappings: s.mappings.as_ref().map(|m| m.join("\n")),
    };
    let after = target::revise(&before, &changes, &|_| Ok("(new credential)".into()))?;
    let what = format!("app {slug} scim");
    if after != before || notify.is_some() {
        let mut detail = vec![fields_changed(&before, &after)];
        if credential.is_some() {
            detail.push("credential: new".into());
        }
        if let Some(n) = &notify {
            detail.push(format!("notify_email: {notify_before:?} -> {n:?}"));
        }
        let detail = detail
            .into_iter()
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        steps.push(step(
            Kind::Change,
            what.clone(),
            detail,
            Action::Scim(slug.to_string(), changes),
        ));
    }
    let switch = match (s.active, before.state) {
        (Some(true), TargetState::Inactive) => Some(Switch::Activate),
        (Some(false), state) if state != TargetState::Inactive => Some(Switch::Deactivate),
        _ => None,
    };
    if let Some(sw) = switch {
        if sw == Switch::Activate && after.secret.is_empty() {
            return Err(DeclareError::File(format!(
                "app {slug:?}: provisioning cannot be active without a credential (token, or basic_user and password)"
            )));
        }
        switch_steps.push(step(
            Kind::Change,
            what,
            sw.as_str().to_string(),
            Action::Switch(slug.to_string(), sw),
        ));
    }
    Ok(())
}

fn wanted_credential(s: &ScimDecl, dir: &Path) -> Result<Option<Credential>, DeclareError> {
    let read = |r: &SecretRef| r.resolve(dir);
    match (&s.token, &s.basic_user, &s.password) {
        (Some(t), None, None) => Ok(Some(Credential::Bearer(read(t)?))),
        (None, Some(u), Some(p)) => Ok(Some(Credential::Basic(u.clone(), read(p)?))),
        (None, None, None) => Ok(None),
        _ => Err(DeclareError::File(
            "scim: give either token, or basic_user with password".into(),
        )),
    }
}

fn same_credential(a: &Credential, b: Option<&Credential>) -> bool {
    let eq = |x: &Secret, y: &Secret| {
        let (x, y) = (x.expose().as_bytes(), y.expose().as_bytes());
        x.len() == y.len() && openssl::memcmp::eq(x, y)
    };
    match (a, b) {
        (Credential::Bearer(x), Some(Credential::Bearer(y))) => eq(x, y),
        (Credential::Basic(u, x), Some(Credential::Basic(v, y))) => u == v && eq(x, y),
        _ => false,
    }
}

async fn pruned(
    conn: &mut Conn,
    decl: &Declaration,
    steps: &mut Vec<Step>,
) -> Result<(), DeclareError> {
    let declared = |names: &mut dyn Iterator<Item = &String>| {
        names.map(|n| n.to_lowercase()).collect::<BTreeSet<_>>()
    };
    let apps_kept = declared(&mut decl.apps.iter().map(|a| &a.slug));
    for app in apps::list(conn).await? {
        if !apps_kept.contains(&app.slug.to_lowercase()) {
            steps.push(step(
                Kind::Delete,
                format!("app {}", app.slug),
                "not declared".into(),
                Action::DeleteApp(app.slug),
            ));
        }
    }
    let groups_kept = declared(&mut decl.groups.iter().map(|g| &g.name));
    for g in groups::list(conn).await? {
        if !groups_kept.contains(&g.name.to_lowercase()) {
            steps.push(step(
                Kind::Delete,
                format!("group {}", g.name),
                "not declared".into(),
                Action::DeleteGroup(g.name),
            ));
        }
    }
    if decl.admins.is_empty() {
        return Err(DeclareError::File(
            "--prune would take the admin role from everyone: declare at least one [[admin]]"
                .into(),
        ));
    }
    let admins_kept = declared(&mut decl.admins.iter().map(|a| &a.username));
    for u in users::list(conn).await? {
        if u.is_admin && !admins_kept.contains(&u.username.to_lowercase()) {
            let fields = UserFields {
                is_admin: Some(false),
                ..UserFields::default()
            };
            steps.push(step(
                Kind::Delete,
                format!("admin {}", u.username),
                "admin role taken (not declared)".into(),
                Action::UpdateUser(u.username, fields),
            ));
        }
    }
    Ok(())
}

/// "label: "A" -> "B", acs: changed" — each top-level field whose value differs; long
/// values (certificates, lists) are named, not printed.
fn fields_changed<T: Serialize>(before: &T, after: &T) -> String {
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return "changed".into();
    };
    let short = |v: &Value| {
        let s = v.to_string();
        (s.len() <= 60 && !v.is_array() && !v.is_object()).then_some(s)
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| match (b.get(k).and_then(short), short(v)) {
            (Some(old), Some(new)) => format!("{k}: {old} -> {new}"),
            _ => format!("{k}: changed"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<DirectoryError> for DeclareError {
    fn from(e: DirectoryError) -> Self {
        DeclareError::Directory(e)
    }
}
