//! The `app_sso` and `app_acs` tables: an app's SAML settings and its ACS URLs.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{flag, now_ms, Conn, StoreError};
use crate::saml::encrypt::Encryption;

/// An app's SAML settings as stored; `saml::settings` validates them on the way in.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SsoRow {
    pub sp_entity_id: String,
    pub idp_entity_id: String,
    pub nameid_format: String,
    pub nameid_source: String,
    pub relay_state: String,
    pub sign_response: bool,
    pub require_signed_requests: bool,
    pub allow_sha1: bool,
    /// Sign-ins to this app need a second factor, whatever the global policy.
    pub require_mfa: bool,
    /// Zero or more PEM certificates the SP signs requests with (several during its rollover).
    pub sp_certs: String,
    /// The attribute mapping as JSON `[[name, source], ...]`; empty means the defaults.
    pub attributes: String,
    /// Whether, and how, assertions are encrypted to the SP (`saml::encrypt`).
    pub encryption: Encryption,
    /// The PEM certificate of the SP's encryption key; empty when none.
    pub sp_encryption_cert: String,
    /// ACS URLs in index order; `acs[i].0` is the index.
    pub acs: Vec<(i64, String, bool)>,
    /// Single Logout at the SP (Profiles §4.4): where requests go (empty: the SP takes no
    /// logout), where responses go when elsewhere, and the binding (`saml::logout::SloBinding`).
    pub slo: SloRow,
}

/// The SP's Single Logout endpoint as stored (columns `slo_*` of `app_sso`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SloRow {
    pub url: String,
    pub response_url: String,
    pub binding: String,
}

impl SsoRow {
    /// How many SP certificates are registered.
    pub fn sp_cert_count(&self) -> usize {
        self.sp_certs.matches("BEGIN CERTIFICATE").count()
    }

    /// What SSO still lacks before it can sign anyone in (empty when it can): an SP entity
    /// ID and an ACS URL.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.sp_entity_id.is_empty() {
            m.push("the SP entity ID");
        }
        if self.acs.is_empty() {
            m.push("an ACS URL");
        }
        m
    }

    /// The ACS URL an unsolicited Response goes to: the default one, else the first.
    pub fn default_acs(&self) -> Option<&str> {
        self.acs
            .iter()
            .find(|(_, _, d)| *d)
            .or(self.acs.first())
            .map(|(_, u, _)| u.as_str())
    }
}

impl<'r> FromRow<'r, AnyRow> for SsoRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(SsoRow {
            sp_entity_id: row.try_get("sp_entity_id")?,
            idp_entity_id: row.try_get("idp_entity_id")?,
            nameid_format: row.try_get("nameid_format")?,
            nameid_source: row.try_get("nameid_source")?,
            relay_state: row.try_get("relay_state")?,
            sign_response: row.try_get::<i64, _>("sign_response")? != 0,
            require_signed_requests: row.try_get::<i64, _>("require_signed_requests")? != 0,
            allow_sha1: row.try_get::<i64, _>("allow_sha1")? != 0,
            require_mfa: row.try_get::<i64, _>("require_mfa")? != 0,
            sp_certs: row.try_get("sp_certs")?,
            attributes: row.try_get("attributes")?,
            encryption: {
                let word: String = row.try_get("encryption")?;
                Encryption::parse(&word).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: "encryption".into(),
                    source: format!("unknown word {word:?} in app_sso.encryption").into(),
                })?
            },
            sp_encryption_cert: row.try_get("sp_encryption_cert")?,
            acs: Vec::new(),
            slo: SloRow::default(),
        })
    }
}

pub async fn get(conn: &mut Conn, app_id: i64) -> Result<Option<SsoRow>, StoreError> {
    let row: Option<SsoRow> = sqlx::query_as(
        "SELECT sp_entity_id, idp_entity_id, nameid_format, nameid_source, relay_state, \
         sign_response, require_signed_requests, allow_sha1, require_mfa, sp_certs, attributes, \
         encryption, sp_encryption_cert FROM app_sso WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    let acs: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT idx, url, is_default FROM app_acs WHERE app_id = $1 ORDER BY idx")
            .bind(app_id)
            .fetch_all(&mut *conn)
            .await?;
    row.acs = acs.into_iter().map(|(i, u, d)| (i, u, d != 0)).collect();
    let (url, response_url, binding): (String, String, String) = sqlx::query_as(
        "SELECT slo_url, slo_response_url, slo_binding FROM app_sso WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_one(&mut *conn)
    .await?;
    row.slo = SloRow {
        url,
        response_url,
        binding,
    };
    Ok(Some(row))
}

/// Replaces the app's settings and ACS list.
pub async fn put(conn: &mut Conn, app_id: i64, s: &SsoRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO app_sso (app_id, sp_entity_id, idp_entity_id, nameid_format, nameid_source, \
         relay_state, sign_response, require_signed_requests, allow_sha1, sp_certs, attributes, \
         updated_at, require_mfa, encryption, sp_encryption_cert) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (app_id) DO UPDATE SET sp_entity_id = excluded.sp_entity_id, \
         idp_entity_id = excluded.idp_entity_id, nameid_format = excluded.nameid_format, \
         nameid_source = excluded.nameid_source, relay_state = excluded.relay_state, \
         sign_response = excluded.sign_response, \
         require_signed_requests = excluded.require_signed_requests, \
         allow_sha1 = excluded.allow_sha1, sp_certs = excluded.sp_certs, \
         attributes = excluded.attributes, updated_at = excluded.updated_at, \
         require_mfa = excluded.require_mfa, encryption = excluded.encryption, \
         sp_encryption_cert = excluded.sp_encryption_cert",
    )
    .bind(app_id)
    .bind(&s.sp_entity_id)
    .bind(&s.idp_entity_id)
    .bind(&s.nameid_format)
    .bind(&s.nameid_source)
    .bind(&s.relay_state)
    .bind(flag(s.sign_response))
    .bind(flag(s.require_signed_requests))
    .bind(flag(s.allow_sha1))
    .bind(&s.sp_certs)
    .bind(&s.attributes)
    .bind(now_ms())
    .bind(flag(s.require_mfa))
    .bind(s.encryption.as_str())
    .bind(&s.sp_encryption_cert)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE app_sso SET slo_url = $2, slo_response_url = $3, slo_binding = $4 WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(&s.slo.url)
    .bind(&s.slo.response_url)
    .bind(&s.slo.binding)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM app_acs WHERE app_id = $1")
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    for (idx, url, default) in &s.acs {
        sqlx::query("INSERT INTO app_acs (app_id, idx, url, is_default) VALUES ($1, $2, $3, $4)")
            .bind(app_id)
            .bind(idx)
            .bind(url)
            .bind(flag(*default))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
