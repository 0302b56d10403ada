//! `/api/v1/catalog`, `/api/v1/apps/...`: applications, their SAML settings, the assertion
//! preview and group bindings.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{created, no_content, ok, Admin, ApiError, ApiResult, Body, Params};
use crate::app::AppState;
use crate::directory::apps::{self, AppChanges};
use crate::directory::catalog;
use crate::saml::encrypt::SpEncryptionCert;
use crate::saml::settings::{self, SsoChanges};
use crate::saml::{attributes, fetch, metadata, preview as saml_preview};
use crate::store::sso::SsoRow;

#[derive(Deserialize)]
pub struct Search {
    pub q: Option<String>,
}

pub async fn catalog(_: Admin, Params(s): Params<Search>) -> ApiResult {
    let list: Vec<Value> = catalog::search(s.q.as_deref().unwrap_or_default())
        .into_iter()
        .map(|t| json!({ "name": t.name, "label": t.label, "description": t.description, "color": t.color }))
        .collect();
    ok(list)
}

pub async fn list(_: Admin, State(state): State<AppState>, Params(s): Params<Search>) -> ApiResult {
    ok(apps::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppFields {
    label: Option<String>,
    description: Option<String>,
    color: Option<String>,
    show_in_portal: Option<bool>,
    enabled: Option<bool>,
    sso_enabled: Option<bool>,
}

impl From<AppFields> for AppChanges {
    fn from(f: AppFields) -> Self {
        AppChanges {
            label: f.label,
            description: f.description,
            color: f.color,
            show_in_portal: f.show_in_portal,
            enabled: f.enabled,
            sso_enabled: f.sso_enabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    slug: String,
    template: String,
    label: Option<String>,
    description: Option<String>,
    color: Option<String>,
    show_in_portal: Option<bool>,
    enabled: Option<bool>,
    sso_enabled: Option<bool>,
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<NewApp>,
) -> ApiResult {
    let changes = AppChanges {
        label: b.label,
        description: b.description,
        color: b.color,
        show_in_portal: b.show_in_portal,
        enabled: b.enabled,
        sso_enabled: b.sso_enabled,
    };
    let app = apps::add(&state.db, &admin.actor, &b.slug, &b.template, &changes).await?;
    created(app)
}

pub async fn show(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    ok(apps::show(&state.db, &slug).await?)
}

pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<AppFields>,
) -> ApiResult {
    ok(apps::update(&state.db, &admin.actor, &slug, &b.into()).await?)
}

pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    apps::delete(&state.db, &admin.actor, &slug).await?;
    crate::saml::rollover::forget_app(state.keys.dir(), &slug);
    no_content()
}

/// The SAML settings and the values to give the SP.
pub fn sso_view(state: &AppState, slug: &str, row: &SsoRow) -> Value {
    let base = &state.config.base_url;
    let url = settings::sso_url(base, slug);
    json!({
        "idp_url": url,
        "idp_entity_id": settings::idp_entity_id(base, slug, row),
        "idp_entity_id_override": row.idp_entity_id,
        "idp_slo_url": format!("{url}/slo"),
        "metadata_url": format!("{url}/metadata"),
        "certificate_url": format!("{url}/certificate.pem"),
        "sp_entity_id": row.sp_entity_id,
        "acs_urls": row.acs.iter().map(|(i, u, d)| json!({"index": i, "url": u, "default": d})).collect::<Vec<_>>(),
        "nameid_format": row.nameid_format,
        "nameid_source": row.nameid_source,
        "relay_state": row.relay_state,
        "sign_response": row.sign_response,
        "require_signed_requests": row.require_signed_requests,
        "allow_sha1": row.allow_sha1,
        "require_mfa": row.require_mfa,
        "sp_certificates": row.sp_cert_count(),
        "attributes": attributes::items(&attributes::decode(&row.attributes)),
        "slo_url": row.slo.url,
        "slo_response_url": row.slo.response_url,
        "slo_binding": row.slo.binding,
        "encryption": row.encryption,
        "sp_encryption_certificate": SpEncryptionCert::load(&row.sp_encryption_cert).ok().map(|c| json!({
            "subject": c.subject(),
            "not_after": c.not_after(),
            "sha256_fingerprint": c.fingerprint(),
        })),
    })
}

pub async fn sso(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let (app, row) = settings::get(&state.db, &slug).await?;
    ok(sso_view(&state, &app.slug, &row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoPatch {
    sp_entity_id: Option<String>,
    acs_urls: Option<Vec<String>>,
    nameid_format: Option<String>,
    nameid_source: Option<String>,
    relay_state: Option<String>,
    sign_response: Option<bool>,
    require_signed_requests: Option<bool>,
    allow_sha1: Option<bool>,
    require_mfa: Option<bool>,
    /// PEM certificate(s) of the SP; "" removes them.
    sp_certificate: Option<String>,
    idp_entity_id: Option<String>,
    /// `NAME=SOURCE` items; replaces the mapping; [] restores the defaults.
    attributes: Option<Vec<String>>,
    slo_url: Option<String>,
    slo_response_url: Option<String>,
    slo_binding: Option<String>,
    /// `off`, `aes256-gcm` or `legacy`.
    encryption: Option<String>,
    /// The PEM certificate of the SP's encryption key; "" removes it.
    sp_encryption_certificate: Option<String>,
}

pub async fn set_sso(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<SsoPatch>,
) -> ApiResult {
    let changes = SsoChanges {
        sp_entity_id: b.sp_entity_id,
        acs_urls: b.acs_urls,
        acs_indexes: None,
        nameid_format: b.nameid_format,
        nameid_source: b.nameid_source,
        relay_state: b.relay_state,
        sign_response: b.sign_response,
        require_signed_requests: b.require_signed_requests,
        allow_sha1: b.allow_sha1,
        require_mfa: b.require_mfa,
        sp_certs_pem: b.sp_certificate,
        idp_entity_id: b.idp_entity_id,
        attributes: b.attributes,
        slo_url: b.slo_url,
        slo_response_url: b.slo_response_url,
        slo_binding: b.slo_binding,
        encryption: b.encryption,
        sp_encryption_cert_pem: b.sp_encryption_certificate,
    };
    let row = settings::update(&state.db, &admin.actor, &slug, &changes).await?;
    ok(sso_view(&state, &slug, &row))
}

/// The metadata itself, or the http(s) URL to fetch it from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataBody {
    xml: Option<String>,
    url: Option<String>,
}

pub async fn import_metadata(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<MetadataBody>,
) -> ApiResult {
    let invalid = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m);
    let xml = match (b.xml, b.url) {
        (Some(xml), None) => xml,
        (None, Some(url)) => fetch::sp_metadata(&url, &state.config.metadata_fetch_allow)
            .await
            .map_err(|e| invalid(e.to_string()))?,
        _ => return Err(invalid("give either xml or url".to_string())),
    };
    let changes = metadata::parse_sp_metadata(&xml).map_err(|e| invalid(e.to_string()))?;
    let row = settings::update(&state.db, &admin.actor, &slug, &changes).await?;
    ok(sso_view(&state, &slug, &row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    user: String,
}

pub async fn preview(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Params(q): Params<PreviewQuery>,
) -> ApiResult {
    ok(saml_preview::preview(&state.idp, &slug, &q.user).await?)
}

pub async fn bind(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, group)): Path<(String, String)>,
) -> ApiResult {
    let changed = apps::set_binding(&state.db, &admin.actor, &slug, &group, true).await?;
    ok(json!({ "app": slug, "group": group, "bound": true, "changed": changed }))
}

pub async fn unbind(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, group)): Path<(String, String)>,
) -> ApiResult {
    let changed = apps::set_binding(&state.db, &admin.actor, &slug, &group, false).await?;
    ok(json!({ "app": slug, "group": group, "bound": false, "changed": changed }))
}

/// The logo as the raw request body (a PNG or SVG file, at most 64 KiB).
pub async fn set_logo(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    ok(apps::set_logo(&state.db, &admin.actor, &slug, Some(&body)).await?)
}

pub async fn remove_logo(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    ok(apps::set_logo(&state.db, &admin.actor, &slug, None).await?)
}
