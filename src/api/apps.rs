//! `/api/v1/catalog`, `/api/v1/apps/...`: applications, their SAML settings, the assertion
//! preview and group bindings.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::document::{
    AppSlug, BodyRefusals, BoundGroup, Conflict, Invalid, NotFound, Refusals, TooLarge,
};
use super::{created, no_content, ok, Admin, ApiError, ApiResult, Body, Params};
use crate::app::AppState;
use crate::directory::apps::{self, AppChanges, AppDetail};
use crate::directory::{catalog, App};
use crate::saml::encrypt::{Encryption, SpEncryptionCert};
use crate::saml::settings::{self, SsoChanges};
use crate::saml::{attributes, fetch, metadata, preview as saml_preview};
use crate::store::sso::SsoRow;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Case-insensitive substring search.
    pub q: Option<String>,
}

/// A template of the catalog, to create an app from.
#[derive(Serialize, ToSchema)]
pub struct CatalogTemplate {
    name: &'static str,
    label: &'static str,
    description: &'static str,
    /// #rrggbb.
    color: &'static str,
}

/// App templates
///
/// q matches the name, label and description.
#[utoipa::path(
    get, path = "/api/v1/catalog", operation_id = "listCatalog", tag = "apps",
    params(Search),
    responses(
        (status = 200, description = "OK", body = [CatalogTemplate]),
        Refusals,
    ),
)]
pub async fn catalog(_: Admin, Params(s): Params<Search>) -> ApiResult {
    let list: Vec<CatalogTemplate> = catalog::search(s.q.as_deref().unwrap_or_default())
        .into_iter()
        .map(|t| CatalogTemplate {
            name: t.name,
            label: t.label,
            description: t.description,
            color: t.color,
        })
        .collect();
    ok(list)
}

/// List apps
///
/// q matches the slug, label and description.
#[utoipa::path(
    get, path = "/api/v1/apps", operation_id = "listApps", tag = "apps",
    params(Search),
    responses(
        (status = 200, description = "OK", body = [App]),
        Refusals,
    ),
)]
pub async fn list(_: Admin, State(state): State<AppState>, Params(s): Params<Search>) -> ApiResult {
    ok(apps::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

/// Only the fields given change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AppPatch)]
pub struct AppFields {
    /// 1 to 100 characters.
    label: Option<String>,
    /// At most 500 characters.
    description: Option<String>,
    /// #rrggbb (stored lowercase).
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$", examples("#2563eb"))]
    color: Option<String>,
    show_in_portal: Option<bool>,
    /// false: nobody may use the app (no SSO, provisioning deprovisions).
    enabled: Option<bool>,
    /// false: SSO switched off (no tile, sign-ins refused); provisioning goes on.
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// Fixed at creation: the SP is configured with {base_url}/saml2/{slug}.
    #[schema(pattern = "^[a-z0-9-]{1,63}$")]
    slug: String,
    /// The catalog template's name.
    template: String,
    /// 1 to 100 characters; default: the template's label.
    label: Option<String>,
    /// At most 500 characters.
    description: Option<String>,
    /// #rrggbb (stored lowercase); default: the template's.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$", examples("#2563eb"))]
    color: Option<String>,
    /// Default true.
    show_in_portal: Option<bool>,
    /// Default true.
    enabled: Option<bool>,
    /// Default true.
    sso_enabled: Option<bool>,
}

/// Create an app from a catalog template
#[utoipa::path(
    post, path = "/api/v1/apps", operation_id = "createApp", tag = "apps",
    request_body = NewApp,
    responses(
        (status = 201, description = "Created.", body = App),
        Conflict, BodyRefusals, Refusals,
    ),
)]
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

/// Show an app with its bound groups
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}", operation_id = "getApp", tag = "apps",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = AppDetail),
        NotFound, Refusals,
    ),
)]
pub async fn show(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    ok(apps::show(&state.db, &slug).await?)
}

/// Change an app's general settings
#[utoipa::path(
    patch, path = "/api/v1/apps/{slug}", operation_id = "updateApp", tag = "apps",
    params(AppSlug),
    request_body = AppFields,
    responses(
        (status = 200, description = "OK", body = App),
        NotFound, BodyRefusals, Refusals,
    ),
)]
pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<AppFields>,
) -> ApiResult {
    ok(apps::update(&state.db, &admin.actor, &slug, &b.into()).await?)
}

/// Delete an app
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}", operation_id = "deleteApp", tag = "apps",
    params(AppSlug),
    responses(
        (status = 204, description = "Deleted."),
        NotFound, Refusals,
    ),
)]
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    crate::saml::rollover::delete_app(&state.db, state.keys.dir(), &admin.actor, &slug).await?;
    no_content()
}

/// The SAML settings and the values to give the SP.
#[derive(Serialize, ToSchema)]
pub struct Sso {
    /// {base_url}/saml2/{slug}: the SSO endpoint (both bindings).
    idp_url: String,
    /// The override when set, else idp_url.
    idp_entity_id: String,
    /// Empty when not overridden.
    idp_entity_id_override: String,
    /// sesame's Single Logout service for this app (both bindings), published in its
    /// metadata.
    idp_slo_url: String,
    metadata_url: String,
    certificate_url: String,
    sp_entity_id: String,
    acs_urls: Vec<AcsUrl>,
    /// email, persistent, unspecified or transient.
    nameid_format: String,
    /// email, username, employee-id or persistent-id.
    nameid_source: String,
    relay_state: String,
    sign_response: bool,
    require_signed_requests: bool,
    allow_sha1: bool,
    /// Sign-ins to this app need a second factor, whatever the MFA policy.
    require_mfa: bool,
    /// How many SP certificates are stored.
    sp_certificates: usize,
    /// NAME=SOURCE items.
    attributes: Vec<String>,
    /// The SP's Single Logout URL; empty when the SP is not told of logouts.
    slo_url: String,
    /// Where the SP takes LogoutResponses, when not at slo_url; empty: the same.
    slo_response_url: String,
    /// The binding of the SP's Single Logout URL: redirect or post.
    slo_binding: String,
    /// How the assertion is encrypted to the SP: off; aes256-gcm (AES-256-GCM, key wrapped
    /// with RSA-OAEP); legacy (AES-128-CBC, RSA-OAEP), only for SPs without AES-GCM.
    #[schema(value_type = String)]
    encryption: Encryption,
    /// The SP's encryption certificate; null when none is registered.
    sp_encryption_certificate: Option<EncryptionCertificate>,
}

/// The SP's encryption certificate, as the console shows it.
#[derive(Serialize, ToSchema)]
pub struct EncryptionCertificate {
    subject: String,
    /// End of validity, YYYY-MM-DD HH:MM UTC.
    not_after: String,
    sha256_fingerprint: String,
}

/// An ACS URL of the SP, with its index.
#[derive(Serialize, ToSchema)]
pub struct AcsUrl {
    index: i64,
    url: String,
    default: bool,
}

pub fn sso_view(state: &AppState, slug: &str, row: &SsoRow) -> Sso {
    let base = &state.config.base_url;
    let url = settings::sso_url(base, slug);
    Sso {
        idp_url: url.clone(),
        idp_entity_id: settings::idp_entity_id(base, slug, row),
        idp_entity_id_override: row.idp_entity_id.clone(),
        idp_slo_url: format!("{url}/slo"),
        metadata_url: format!("{url}/metadata"),
        certificate_url: format!("{url}/certificate.pem"),
        sp_entity_id: row.sp_entity_id.clone(),
        acs_urls: row
            .acs
            .iter()
            .map(|(i, u, d)| AcsUrl {
                index: *i,
                url: u.clone(),
                default: *d,
            })
            .collect(),
        nameid_format: row.nameid_format.clone(),
        nameid_source: row.nameid_source.clone(),
        relay_state: row.relay_state.clone(),
        sign_response: row.sign_response,
        require_signed_requests: row.require_signed_requests,
        allow_sha1: row.allow_sha1,
        require_mfa: row.require_mfa,
        sp_certificates: row.sp_cert_count(),
        attributes: attributes::items(&attributes::decode(&row.attributes)),
        slo_url: row.slo.url.clone(),
        slo_response_url: row.slo.response_url.clone(),
        slo_binding: row.slo.binding.clone(),
        encryption: row.encryption,
        sp_encryption_certificate: SpEncryptionCert::load(&row.sp_encryption_cert)
            .ok()
            .map(|c| EncryptionCertificate {
                subject: c.subject(),
                not_after: c.not_after(),
                sha256_fingerprint: c.fingerprint(),
            }),
    }
}

/// SAML settings and the values to give the SP
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}/sso", operation_id = "getSso", tag = "sso",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = Sso),
        NotFound, Refusals,
    ),
)]
pub async fn sso(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let (app, row) = settings::get(&state.db, &slug).await?;
    ok(sso_view(&state, &app.slug, &row))
}

/// Only the fields given change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoPatch {
    /// At most 1024 characters.
    sp_entity_id: Option<String>,
    /// Replaces the list; absolute http(s) URLs without #fragment, kept byte for byte; the
    /// first is the default.
    acs_urls: Option<Vec<String>>,
    /// email, persistent, unspecified or transient.
    nameid_format: Option<String>,
    /// email, username, employee-id or persistent-id.
    nameid_source: Option<String>,
    /// Default RelayState; no CR, LF or NUL; at most 1024 characters.
    relay_state: Option<String>,
    sign_response: Option<bool>,
    /// Needs an SP certificate.
    require_signed_requests: Option<bool>,
    allow_sha1: Option<bool>,
    /// Sign-ins to this app need a second factor, whatever the MFA policy.
    require_mfa: Option<bool>,
    /// PEM certificate(s) of the SP; "" removes them.
    sp_certificate: Option<String>,
    /// "" restores the default (idp_url).
    idp_entity_id: Option<String>,
    /// `NAME=SOURCE` items; replaces the mapping; [] restores the defaults (email,
    /// firstName, lastName). Sources: email, username, first-name, last-name, display-name,
    /// title, phone, employee-id, manager, groups; or an expression, as SCIM mappings take
    /// them: `displayName=Join(" ", [first_name], [last_name])`.
    attributes: Option<Vec<String>>,
    /// The SP's Single Logout URL; empty when the SP is not told of logouts.
    slo_url: Option<String>,
    /// Where the SP takes LogoutResponses, when not at slo_url; empty: the same.
    slo_response_url: Option<String>,
    /// The binding of the SP's Single Logout URL: redirect or post.
    slo_binding: Option<String>,
    /// `off`, `aes256-gcm` or `legacy`; anything but off needs sp_encryption_certificate
    /// (given now or before).
    encryption: Option<String>,
    /// The PEM certificate of the SP's encryption key (exactly one; RSA, at least 2048 bits,
    /// valid now; else 400); "" removes it.
    sp_encryption_certificate: Option<String>,
}

/// Change SAML settings
#[utoipa::path(
    patch, path = "/api/v1/apps/{slug}/sso", operation_id = "updateSso", tag = "sso",
    params(AppSlug),
    request_body = SsoPatch,
    responses(
        (status = 200, description = "OK", body = Sso),
        NotFound, BodyRefusals, Refusals,
    ),
)]
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

/// The metadata itself, or the http(s) URL to fetch it from: exactly one of xml and url.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MetadataImport)]
pub struct MetadataBody {
    /// The SP's SAML metadata (an EntityDescriptor with an SPSSODescriptor and at least one
    /// HTTP-POST AssertionConsumerService); no DOCTYPE.
    xml: Option<String>,
    /// An http(s) URL to fetch the SP's metadata from (1 MiB at most, 20 s, up to 5
    /// redirects). Only public addresses are fetched, on every redirect, unless the host or
    /// its network is in the metadata_fetch_allow setting; any fetch that is refused or fails
    /// is answered 400 invalid with one and the same message.
    url: Option<String>,
}

/// Import the SP's metadata
///
/// Sets the SP entity id, the HTTP-POST ACS URLs (default first) with their indexes, the
/// signing certificate(s) and require_signed_requests from AuthnRequestsSigned.
#[utoipa::path(
    put, path = "/api/v1/apps/{slug}/sso/metadata", operation_id = "importSpMetadata", tag = "sso",
    params(AppSlug),
    request_body = MetadataBody,
    responses(
        (status = 200, description = "OK", body = Sso),
        NotFound, BodyRefusals, Refusals,
    ),
)]
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The username.
    user: String,
}

/// What the SP would receive for a user now
///
/// Built and signed like a real IdP-initiated sign-on, with each check explained; not sent,
/// not recorded.
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}/sso/preview", operation_id = "previewAssertion", tag = "sso",
    params(AppSlug, PreviewQuery),
    responses(
        (status = 200, description = "OK", body = saml_preview::Preview),
        Invalid, NotFound, Refusals,
    ),
)]
pub async fn preview(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Params(q): Params<PreviewQuery>,
) -> ApiResult {
    ok(saml_preview::preview(&state.idp, &slug, &q.user).await?)
}

/// Whether a group gives access to an app.
#[derive(Serialize, ToSchema)]
pub struct Binding {
    app: String,
    group: String,
    bound: bool,
    /// false when it was already so (no event is written).
    changed: bool,
}

/// Give a group access to the app
///
/// No body.
#[utoipa::path(
    put, path = "/api/v1/apps/{slug}/groups/{group}", operation_id = "bindGroup", tag = "apps",
    params(AppSlug, BoundGroup),
    responses(
        (status = 200, description = "OK", body = Binding),
        NotFound, Refusals,
    ),
)]
pub async fn bind(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, group)): Path<(String, String)>,
) -> ApiResult {
    let changed = apps::set_binding(&state.db, &admin.actor, &slug, &group, true).await?;
    ok(Binding {
        app: slug,
        group,
        bound: true,
        changed,
    })
}

/// Take a group's access away
///
/// No body.
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}/groups/{group}", operation_id = "unbindGroup", tag = "apps",
    params(AppSlug, BoundGroup),
    responses(
        (status = 200, description = "OK", body = Binding),
        NotFound, Refusals,
    ),
)]
pub async fn unbind(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, group)): Path<(String, String)>,
) -> ApiResult {
    let changed = apps::set_binding(&state.db, &admin.actor, &slug, &group, false).await?;
    ok(Binding {
        app: slug,
        group,
        bound: false,
        changed,
    })
}

/// Set the app's tile logo
///
/// The raw file as the body: a PNG, or an SVG without scripts, event handlers, foreign
/// objects or external links; at most 64 KiB. Served at /logos/{slug}.
#[utoipa::path(
    put, path = "/api/v1/apps/{slug}/logo", operation_id = "setAppLogo", tag = "apps",
    params(AppSlug),
    request_body(content(("image/png"), ("image/svg+xml"))),
    responses(
        (status = 200, description = "OK", body = App),
        Invalid, NotFound, TooLarge, Refusals,
    ),
)]
pub async fn set_logo(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    ok(apps::set_logo(&state.db, &admin.actor, &slug, Some(&body)).await?)
}

/// Remove the app's logo (the tile shows its colour)
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}/logo", operation_id = "removeAppLogo", tag = "apps",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = App),
        NotFound, Refusals,
    ),
)]
pub async fn remove_logo(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    ok(apps::set_logo(&state.db, &admin.actor, &slug, None).await?)
}
