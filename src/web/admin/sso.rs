//! Console: the SSO tab — what to give the SP, its settings, metadata import and download,
//! the assertion preview and the last sign-in attempts.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{Chrome, EventView, OwnKey, SsoPage, VendorGuide};
use super::{done, on, AdminUser, AnyForm};
use crate::app::AppState;
use crate::directory::{users, DirectoryError};
use crate::error::AppError;
use crate::saml::encrypt::{Encryption, SpEncryptionCert};
use crate::saml::keys::KeyKind;
use crate::saml::settings::{self, SsoChanges};
use crate::saml::{attributes, fetch, metadata, preview};
use crate::store::events::{self, EventFilter};
use crate::store::sso::SsoRow;
use crate::web::form::{HtmlForm, Invalid};
use crate::web::pages::render;

const FORMATS: &[&str] = &["email", "persistent", "unspecified", "transient"];
const SOURCES: &[&str] = &["email", "username", "employee-id", "persistent-id"];

#[derive(Deserialize)]
pub struct SsoQuery {
    preview: Option<String>,
}

pub async fn show(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<SsoQuery>,
) -> Result<Response, AppError> {
    page(&state, &admin, &slug, q.preview, None).await
}

/// A refused settings form as it was typed, shown again with the reason.
struct Typed {
    row: SsoRow,
    certs: (String, String),
    acs_text: String,
    attrs_text: String,
    invalid: Invalid,
}

async fn page(
    state: &AppState,
    admin: &AdminUser,
    slug: &str,
    preview: Option<String>,
    typed: Option<Typed>,
) -> Result<Response, AppError> {
    let slug = slug.to_string();
    let (app, stored) = settings::get(&state.db, &slug).await?;
    let (row, acs_override, attrs_override, invalid, typed_certs) = match typed {
        Some(t) => (
            t.row,
            Some(t.acs_text),
            Some(t.attrs_text),
            t.invalid,
            t.certs,
        ),
        None => (stored, None, None, Invalid::default(), Default::default()),
    };
    let base = &state.config.base_url;
    let preview = match preview.filter(|u| !u.is_empty()) {
        Some(u) => Some(preview::preview(&state.idp, &slug, &u).await?),
        None => None,
    };
    let mut conn = state.db.read().await?;
    let attempts = events::list(
        &mut conn,
        &EventFilter {
            app_slug: Some(slug.clone()),
            name: Some("sso_auth".into()),
            limit: 20,
            ..EventFilter::default()
        },
    )
    .await?
    .into_iter()
    .rev()
    .map(EventView::from)
    .collect();
    drop(conn);
    let usernames = users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let attrs_text = attrs_override.unwrap_or_else(|| {
        if row.attributes.is_empty() {
            String::new()
        } else {
            attributes::items(&attributes::decode(&row.attributes)).join("\n")
        }
    });
    let refused = !invalid.message.is_empty();
    let page = crate::web::pages::with_script(render(&SsoPage {
        invalid,
        typed_certs,
        c: Chrome::new(admin, "apps").await,
        guide: VendorGuide::of(&app),
        idp_url: settings::sso_url(base, &app.slug),
        idp_entity_id: settings::idp_entity_id(base, &app.slug, &row),
        fingerprint: state.keys.for_app(&app.slug).active.fingerprint.clone(),
        own_key: state.keys.own(&app.slug).map(|set| OwnKey {
            kind: kind_name(set.active.kind),
            fingerprint: set.active.fingerprint.clone(),
            next: set
                .next
                .as_ref()
                .map(|n| (kind_name(n.kind), n.fingerprint.clone())),
        }),
        acs_text: acs_override.unwrap_or_else(|| {
            row.acs
                .iter()
                .map(|(_, u, _)| u.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }),
        attrs_text,
        sp_certs: row.sp_cert_count(),
        encryption_cert: SpEncryptionCert::load(&row.sp_encryption_cert)
            .ok()
            .map(|c| c.summary(chrono::Utc::now())),
        encryptions: &Encryption::ALL,
        formats: FORMATS,
        sources: SOURCES,
        usernames,
        preview,
        attempts,
        app,
        row,
        tab: "sso",
    }));
    Ok(if refused {
        (axum::http::StatusCode::BAD_REQUEST, page).into_response()
    } else {
        page
    })
}

fn kind_name(k: KeyKind) -> &'static str {
    match k {
        KeyKind::Rsa => "RSA-2048",
        KeyKind::EcP256 => "ECDSA P-256",
    }
}

#[derive(Deserialize)]
pub struct SsoForm {
    sp_entity_id: String,
    acs_urls: String,
    nameid_format: String,
    nameid_source: String,
    attributes: String,
    relay_state: String,
    idp_entity_id: String,
    sign_response: Option<String>,
    require_signed_requests: Option<String>,
    allow_sha1: Option<String>,
    require_mfa: Option<String>,
    /// `off`, `aes256-gcm` or `legacy`; absent leaves it.
    encryption: Option<String>,
    /// PEM of the SP's encryption certificate; empty keeps the one registered.
    #[serde(default)]
    sp_encryption_certificate: String,
    remove_sp_encryption_certificate: Option<String>,
    sp_certificate: String,
    /// The same as a file (the form is multipart then).
    sp_certificate_file: Option<String>,
    remove_sp_certificate: Option<String>,
    /// Absent from an older form: left as it is.
    slo_url: Option<String>,
    slo_response_url: Option<String>,
    slo_binding: Option<String>,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn update(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    AnyForm(f): AnyForm<SsoForm>,
) -> Result<Response, AppError> {
    let (_, before) = settings::get(&state.db, &slug).await?;
    let (f_acs, f_attributes) = (f.acs_urls.clone(), f.attributes.clone());
    let f_certs = (
        f.sp_certificate.clone(),
        f.sp_encryption_certificate.clone(),
    );
    let acs = lines(&f.acs_urls);
    let unchanged_acs = acs
        == before
            .acs
            .iter()
            .map(|(_, u, _)| u.clone())
            .collect::<Vec<_>>();
    let certs = if on(&f.remove_sp_certificate) {
        Some(String::new())
    } else {
        f.sp_certificate_file
            .or(Some(f.sp_certificate))
            .filter(|p| !p.trim().is_empty())
    };
    let encryption_cert = if on(&f.remove_sp_encryption_certificate) {
        Some(String::new())
    } else {
        Some(f.sp_encryption_certificate).filter(|p| !p.trim().is_empty())
    };
    let changes = SsoChanges {
        sp_entity_id: Some(f.sp_entity_id.trim().to_string()),
        // Keeps the SP's own ACS indexes (from metadata) when the list is as it was.
        acs_urls: (!unchanged_acs).then_some(acs),
        acs_indexes: None,
        nameid_format: Some(f.nameid_format),
        nameid_source: Some(f.nameid_source),
        relay_state: Some(f.relay_state),
        sign_response: Some(on(&f.sign_response)),
        require_signed_requests: Some(on(&f.require_signed_requests)),
        allow_sha1: Some(on(&f.allow_sha1)),
        require_mfa: Some(on(&f.require_mfa)),
        sp_certs_pem: certs,
        idp_entity_id: Some(f.idp_entity_id.trim().to_string()),
        attributes: Some(lines(&f.attributes)),
        slo_url: f.slo_url.map(|u| u.trim().to_string()),
        slo_response_url: f.slo_response_url.map(|u| u.trim().to_string()),
        slo_binding: f.slo_binding,
        encryption: f.encryption,
        sp_encryption_cert_pem: encryption_cert,
    };
    match settings::update(&state.db, &admin.actor(), &slug, &changes).await {
        Ok(_) => {
            let r = Ok("SSO settings saved.".to_string());
            Ok(done(&admin.session, r, &format!("/admin/apps/{slug}/sso")).await)
        }
        Err(DirectoryError::Invalid(message)) => {
            // Shown again as typed, the field at fault marked (nothing was saved).
            let field = settings::field_at_fault(&before, &changes);
            let mut row = before;
            row.sp_entity_id = changes.sp_entity_id.unwrap_or_default();
            row.idp_entity_id = changes.idp_entity_id.unwrap_or_default();
            row.nameid_format = changes.nameid_format.unwrap_or_default();
            row.nameid_source = changes.nameid_source.unwrap_or_default();
            row.relay_state = changes.relay_state.unwrap_or_default();
            row.sign_response = changes.sign_response.unwrap_or_default();
            row.require_signed_requests = changes.require_signed_requests.unwrap_or_default();
            row.allow_sha1 = changes.allow_sha1.unwrap_or_default();
            row.require_mfa = changes.require_mfa.unwrap_or_default();
            row.slo.url = changes.slo_url.unwrap_or(row.slo.url);
            row.slo.response_url = changes.slo_response_url.unwrap_or(row.slo.response_url);
            let typed = Typed {
                row,
                certs: f_certs,
                acs_text: f_acs,
                attrs_text: f_attributes,
                invalid: Invalid::new(field, message),
            };
            page(&state, &admin, &slug, None, Some(typed)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Pasted XML, a file, or a URL to fetch it from.
#[derive(Deserialize)]
pub struct MetadataForm {
    #[serde(default)]
    xml: String,
    xml_file: Option<String>,
    #[serde(default)]
    url: String,
}

pub async fn import_metadata(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    AnyForm(f): AnyForm<MetadataForm>,
) -> Result<Response, AppError> {
    let xml = match (f.xml_file, f.xml.trim().is_empty(), f.url.trim()) {
        (Some(x), _, _) => Ok(x),
        (None, false, _) => Ok(f.xml),
        (None, true, "") => {
            Err("Paste the metadata, choose its file, or give its URL.".to_string())
        }
        (None, true, url) => fetch::sp_metadata(url, &state.config.metadata_fetch_allow)
            .await
            .map_err(|e| e.to_string()),
    };
    let r = match xml.and_then(|x| metadata::parse_sp_metadata(&x).map_err(|e| e.to_string())) {
        Ok(changes) => settings::update(&state.db, &admin.actor(), &slug, &changes)
            .await
            .map(|row| {
                format!(
                    "Imported the SP metadata: entity id {}, {} ACS URL(s).",
                    row.sp_entity_id,
                    row.acs.len()
                )
            })
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    Ok(done(&admin.session, r, &format!("/admin/apps/{slug}/sso")).await)
}

/// The IdP metadata of the app as a download (`metadata.xml`).
pub async fn download_metadata(
    _admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let xml = crate::web::saml::app_metadata(&state, &slug, false).await?;
    let disposition = format!("attachment; filename=\"{slug}-metadata.xml\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/samlmetadata+xml".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xml,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SwitchForm {
    /// `on` or `off`
    sso: String,
}

/// Activates or deactivates the app's SSO (its tile goes and sign-ins are refused while
/// off; provisioning is not affected).
pub async fn switch(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<SwitchForm>,
) -> Result<Response, AppError> {
    let on = match f.sso.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::BadRequest("sso must be on or off".into())),
    };
    let changes = crate::directory::apps::AppChanges {
        sso_enabled: Some(on),
        ..Default::default()
    };
    let r = crate::directory::apps::update(&state.db, &admin.actor(), &slug, &changes)
        .await
        .map(|a| {
            if a.sso_enabled {
                format!("SSO for {} is active.", a.label)
            } else {
                format!(
                    "SSO for {} is deactivated: no tile, sign-ins are refused.",
                    a.label
                )
            }
        })
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &format!("/admin/apps/{slug}/sso")).await)
}
