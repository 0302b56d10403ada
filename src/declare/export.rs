//! `sesame export`: the directory as a declaration `apply` takes back unchanged (applying
//! it to the same directory plans nothing). Credentials are left out — a SCIM target keeps
//! the one it has — and SSO settings still at their defaults are not written.

use super::file::{AdminDecl, AppDecl, Declaration, GroupDecl, ScimDecl, SsoDecl};
use super::DeclareError;
use crate::saml::attributes;
use crate::saml::settings;
use crate::scim::target::{self, TargetState};
use crate::store::scim::TargetRow;
use crate::store::sso::SsoRow;
use crate::store::{apps, groups, scim, sso, users, Db};

const HEADER: &str = "\
# sesame configuration, written by `sesame export`; `sesame apply` takes it back.
# Credentials are not exported: a SCIM target keeps the one it has. To set one here, add
# token = { env = \"NAME\" } (or basic_user = \"...\" with password = { file = \"PATH\" })
# to the app's [app.scim] table; secrets are never written inline.
";

/// The directory as TOML text, with a header saying what is left out.
pub async fn export(db: &Db) -> Result<String, DeclareError> {
    let decl = declaration(db).await?;
    Ok(format!("{HEADER}\n{}", decl.to_toml()?))
}

pub async fn declaration(db: &Db) -> Result<Declaration, DeclareError> {
    let mut conn = db.read().await?;
    let mut decl = Declaration::default();
    for u in users::list(&mut conn)
        .await?
        .into_iter()
        .filter(|u| u.is_admin)
    {
        let some = |s: String| (!s.is_empty()).then_some(s);
        decl.admins.push(AdminDecl {
            username: u.username,
            email: some(u.email),
            first_name: some(u.first_name),
            last_name: some(u.last_name),
            password: None,
        });
    }
    for g in groups::list(&mut conn).await? {
        let members = groups::member_names(&mut conn, g.id).await?;
        decl.groups.push(GroupDecl {
            name: g.name,
            description: (!g.description.is_empty()).then_some(g.description),
            members: Some(members),
        });
    }
    for app in apps::list(&mut conn).await? {
        let bound = apps::bound_group_names(&mut conn, app.id).await?;
        let assigned = apps::assigned_usernames(&mut conn, app.id).await?;
        let sso = sso::get(&mut conn, app.id)
            .await?
            .and_then(|r| sso_decl(&r));
        let notify = crate::store::mail::notify_address(&mut conn, app.id)
            .await?
            .filter(|a| !a.is_empty());
        let scim = scim::target(&mut conn, app.id).await?.map(|r| ScimDecl {
            notify_email: notify,
            ..scim_decl(&r)
        });
        decl.apps.push(AppDecl {
            slug: app.slug,
            template: Some(app.template),
            label: Some(app.label),
            description: Some(app.description),
            color: Some(app.color),
            show_in_portal: Some(app.show_in_portal),
            enabled: Some(app.enabled),
            sso_enabled: Some(app.sso_enabled),
            groups: Some(bound),
            users: Some(assigned),
            sso,
            scim,
        });
    }
    Ok(decl)
}

/// The settings that differ from a new app's (None when none do).
fn sso_decl(row: &SsoRow) -> Option<SsoDecl> {
    let d = settings::defaults();
    let text = |have: &str, default: &str| (have != default).then(|| have.to_string());
    let flag = |have: bool, default: bool| (have != default).then_some(have);
    let urls: Vec<String> = row.acs.iter().map(|(_, u, _)| u.clone()).collect();
    let indexes: Vec<i64> = row.acs.iter().map(|(i, _, _)| *i).collect();
    let counted = (0..indexes.len() as i64).collect::<Vec<_>>();
    let s = SsoDecl {
        sp_entity_id: text(&row.sp_entity_id, &d.sp_entity_id),
        idp_entity_id: text(&row.idp_entity_id, &d.idp_entity_id),
        acs_urls: (!urls.is_empty()).then_some(urls),
        acs_indexes: (indexes != counted).then_some(indexes),
        nameid_format: text(&row.nameid_format, &d.nameid_format),
        nameid_source: text(&row.nameid_source, &d.nameid_source),
        relay_state: text(&row.relay_state, &d.relay_state),
        sign_response: flag(row.sign_response, d.sign_response),
        require_signed_requests: flag(row.require_signed_requests, d.require_signed_requests),
        allow_sha1: flag(row.allow_sha1, d.allow_sha1),
        require_mfa: flag(row.require_mfa, d.require_mfa),
        attributes: (!row.attributes.is_empty())
            .then(|| attributes::items(&attributes::decode(&row.attributes))),
        slo_url: text(&row.slo.url, &d.slo.url),
        slo_response_url: text(&row.slo.response_url, &d.slo.response_url),
        slo_binding: text(&row.slo.binding, &d.slo.binding),
        encryption: (row.encryption != d.encryption).then(|| row.encryption.as_str().to_string()),
        sp_certs: text(&row.sp_certs, &d.sp_certs),
        sp_encryption_cert: text(&row.sp_encryption_cert, &d.sp_encryption_cert),
    };
    (s != SsoDecl::default()).then_some(s)
}

fn scim_decl(row: &TargetRow) -> ScimDecl {
    ScimDecl {
        url: Some(row.base_url.clone()),
        connector: Some(row.connector.clone()),
        token: None,
        basic_user: None,
        password: None,
        deprovision: Some(row.deprovision.as_str().to_string()),
        push_groups: Some(row.push_groups),
        password_sync: Some(row.password_sync),
        deletion_threshold: Some(row.deletion_threshold),
        exclude: Some(target::excluded(row)),
        notify_email: None,
        scope: Some(row.scope.as_str().to_string()),
        filters: Some(
            row.filters
                .to_string()
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        matching: Some(
            row.matching
                .rules()
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
        ),
        mappings: Some(row.mappings.items()),
        active: Some(row.state != TargetState::Inactive),
    }
}
