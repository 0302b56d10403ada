//! Per-app SAML settings (PRODUCT §3.3): the SP's entity id and ACS URLs, NameID format and
//! source, default RelayState, signing options, the SP's certificate(s) and assertion
//! encryption. Validated here, stored by `store::sso`, every change audited.

use chrono::Utc;
use serde_json::json;
use url::Url;

use super::encrypt::{Encryption, SpEncryptionCert};
use super::logout::SloBinding;
use crate::directory::{apps, audit, Actor, App, DirectoryError};
use crate::store::sso::{self, SloRow, SsoRow};
use crate::store::Db;

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

/// NameID formats (SAML Core §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameIdFormat {
    Email,
    Persistent,
    Unspecified,
    Transient,
}

impl NameIdFormat {
    pub const ALL: [NameIdFormat; 4] = [
        Self::Email,
        Self::Persistent,
        Self::Unspecified,
        Self::Transient,
    ];

    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                invalid(format!(
                    "NameID format {s:?} must be email, persistent, unspecified or transient"
                ))
            })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Persistent => "persistent",
            Self::Unspecified => "unspecified",
            Self::Transient => "transient",
        }
    }
    pub fn urn(self) -> &'static str {
        match self {
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }
    }
}

/// Where the NameID value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameIdSource {
    Email,
    Username,
    EmployeeId,
    PersistentId,
}

impl NameIdSource {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        match s {
            "email" => Ok(Self::Email),
            "username" => Ok(Self::Username),
            "employee-id" => Ok(Self::EmployeeId),
            "persistent-id" => Ok(Self::PersistentId),
            _ => Err(invalid(format!(
                "NameID source {s:?} must be email, username, employee-id or persistent-id"
            ))),
        }
    }
}

/// Changes to an app's SAML settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SsoChanges {
    pub sp_entity_id: Option<String>,
    /// Replaces the whole list; the first URL is the default, indexes count from 0.
    pub acs_urls: Option<Vec<String>>,
    /// The SP's own `index` for each of `acs_urls` (from its metadata); default 0, 1, 2...
    pub acs_indexes: Option<Vec<i64>>,
    pub nameid_format: Option<String>,
    pub nameid_source: Option<String>,
    pub relay_state: Option<String>,
    pub sign_response: Option<bool>,
    pub require_signed_requests: Option<bool>,
    pub allow_sha1: Option<bool>,
    pub require_mfa: Option<bool>,
    /// PEM text holding one or more certificates; empty removes them.
    pub sp_certs_pem: Option<String>,
    pub idp_entity_id: Option<String>,
    /// `NAME=SOURCE` items replacing the attribute mapping; an empty list restores defaults.
    pub attributes: Option<Vec<String>>,
    /// The SP's Single Logout URL (empty: the SP takes no logout requests).
    pub slo_url: Option<String>,
    /// Where the SP takes LogoutResponses, when not at `slo_url` (empty: the same).
    pub slo_response_url: Option<String>,
    /// `redirect` or `post`.
    pub slo_binding: Option<String>,
    /// `off`, `aes256-gcm` or `legacy` (`saml::encrypt::Encryption`).
    pub encryption: Option<String>,
    /// The PEM certificate of the SP's encryption key; empty removes it.
    pub sp_encryption_cert_pem: Option<String>,
}

fn entity_id(what: &str, s: &str) -> Result<String, DirectoryError> {
    if s.len() > 1024 || s.chars().any(char::is_control) || s.trim() != s {
        return Err(invalid(format!(
            "{what} must be at most 1024 characters, no spaces around, no control characters"
        )));
    }
    Ok(s.to_string())
}

/// An ACS URL is kept exactly as given (it is compared byte for byte, SECURITY 5), but must
/// be an absolute http(s) URL without a fragment.
pub fn acs_url(s: &str) -> Result<String, DirectoryError> {
    let u = Url::parse(s).map_err(|_| {
        invalid(format!(
            "ACS URL {s:?} is not an absolute URL (like https://sp.example/saml/acs)"
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host().is_none()
        || u.fragment().is_some()
        || s.len() > 2048
    {
        return Err(invalid(format!(
            "ACS URL {s:?} must be an http(s) URL with a host and no #fragment"
        )));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!("ACS URL {s:?} must not contain spaces")));
    }
    Ok(s.to_string())
}

/// SECURITY 7: at most 1024 bytes, no CR, LF or NUL.
pub fn relay_state(s: &str) -> Result<String, DirectoryError> {
    if s.len() > 1024 || s.contains(['\r', '\n', '\0']) {
        return Err(invalid(
            "RelayState must be at most 1024 bytes without line breaks or NUL",
        ));
    }
    Ok(s.to_string())
}

/// Parses PEM text into normalised PEM certificates (several allowed, for the SP's rollover).
pub fn sp_certs(pem: &str) -> Result<String, DirectoryError> {
    if pem.trim().is_empty() {
        return Ok(String::new());
    }
    let certs = openssl::x509::X509::stack_from_pem(pem.as_bytes()).map_err(|_| {
        invalid("the SP certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    })?;
    if certs.is_empty() {
        return Err(invalid(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found in the SP certificate file",
        ));
    }
    let mut out = String::new();
    for c in certs {
        let p = c
            .to_pem()
            .map_err(|e| invalid(format!("SP certificate: {e}")))?;
        out.push_str(&String::from_utf8_lossy(&p));
    }
    Ok(out)
}

/// The SP's encryption certificate, checked now (`SpEncryptionCert::check`) and kept as PEM.
pub fn sp_encryption_cert(pem: &str) -> Result<String, DirectoryError> {
    if pem.trim().is_empty() {
        return Ok(String::new());
    }
    SpEncryptionCert::check(pem, Utc::now())
        .map(|c| c.pem())
        .map_err(|e| invalid(format!("The SP encryption certificate {e}.")))
}

pub fn encryption(s: &str) -> Result<Encryption, DirectoryError> {
    Encryption::parse(s).ok_or_else(|| {
        invalid(format!(
            "encryption {s:?} must be off, aes256-gcm or legacy (AES-128-CBC, for SPs without AES-GCM)"
        ))
    })
}

/// `row` with `c` applied and checked, without storing anything (`apply`'s plan uses it).
pub fn revise(mut row: SsoRow, c: &SsoChanges) -> Result<SsoRow, DirectoryError> {
    if let Some(v) = &c.sp_entity_id {
        row.sp_entity_id = entity_id("SP entity id", v)?;
    }
    if let Some(v) = &c.idp_entity_id {
        row.idp_entity_id = entity_id("IdP entity id", v)?;
    }
    if let Some(urls) = &c.acs_urls {
        let mut acs = Vec::with_capacity(urls.len());
        for (i, u) in urls.iter().enumerate() {
            let u = acs_url(u)?;
            let index = c
                .acs_indexes
                .as_ref()
                .and_then(|v| v.get(i).copied())
                .unwrap_or(i as i64);
            if acs.iter().any(|(x, _, _)| *x == index) {
                return Err(invalid(format!("ACS index {index} is listed twice")));
            }
            if acs.iter().any(|(_, x, _)| *x == u) {
                return Err(invalid(format!("ACS URL {u:?} is listed twice")));
            }
            acs.push((index, u, i == 0));
        }
        row.acs = acs;
    }
    if let Some(v) = &c.nameid_format {
        row.nameid_format = NameIdFormat::parse(v)?.as_str().to_string();
    }
    if let Some(v) = &c.nameid_source {
        NameIdSource::parse(v)?;
        row.nameid_source = v.clone();
    }
    if let Some(v) = &c.relay_state {
        row.relay_state = relay_state(v)?;
    }
    if let Some(items) = &c.attributes {
        let mut m = Vec::with_capacity(items.len());
        for item in items {
            let (name, source) = super::attributes::parse_item(item)?;
            if m.iter().any(|(n, _): &(String, _)| *n == name) {
                return Err(invalid(format!("attribute {name:?} is listed twice")));
            }
            m.push((name, source));
        }
        row.attributes = super::attributes::encode(&m);
    }
    if let Some(v) = &c.sp_certs_pem {
        row.sp_certs = sp_certs(v)?;
    }
    let endpoint = |what: &str, v: &str| {
        if v.is_empty() {
            return Ok(String::new());
        }
        acs_url(v).map_err(|_| {
            invalid(format!(
                "{what} {v:?} must be an absolute http(s) URL with a host, no #fragment and no spaces"
            ))
        })
    };
    if let Some(v) = &c.slo_url {
        row.slo.url = endpoint("Single Logout URL", v)?;
    }
    if let Some(v) = &c.slo_response_url {
        row.slo.response_url = endpoint("Single Logout response URL", v)?;
    }
    if let Some(v) = &c.slo_binding {
        let b = SloBinding::parse(v).ok_or_else(|| {
            invalid(format!(
                "Single Logout binding {v:?} must be redirect or post"
            ))
        })?;
        row.slo.binding = b.as_str().to_string();
    }
    if row.slo.url.is_empty() && !row.slo.response_url.is_empty() {
        return Err(invalid(
            "a Single Logout response URL needs the Single Logout URL too",
        ));
    }
    if let Some(v) = &c.sp_encryption_cert_pem {
        row.sp_encryption_cert = sp_encryption_cert(v)?;
    }
    if let Some(v) = &c.encryption {
        let chosen = encryption(v)?;
        // Switching encryption on checks a certificate kept from before, as if given now.
        if chosen != Encryption::Off
            && chosen != row.encryption
            && c.sp_encryption_cert_pem.is_none()
        {
            sp_encryption_cert(&row.sp_encryption_cert)?;
        }
        row.encryption = chosen;
    }
    if row.encryption != Encryption::Off && row.sp_encryption_cert.is_empty() {
        return Err(invalid(
            "Encrypted assertions need the SP encryption certificate (RSA, at least 2048 bits, \
             valid now): give it, or import SP metadata that has one",
        ));
    }
    row.sign_response = c.sign_response.unwrap_or(row.sign_response);
    row.require_signed_requests = c
        .require_signed_requests
        .unwrap_or(row.require_signed_requests);
    row.allow_sha1 = c.allow_sha1.unwrap_or(row.allow_sha1);
    row.require_mfa = c.require_mfa.unwrap_or(row.require_mfa);
    if row.require_signed_requests && row.sp_certs.is_empty() {
        return Err(invalid(
            "signed requests need the SP's certificate (--sp-cert or metadata import)",
        ));
    }
    Ok(row)
}

/// Which setting of `c` `revise` refuses, found by trying each alone on `before` (the
/// console marks that field); None when only their combination is refused.
pub fn field_at_fault(before: &SsoRow, c: &SsoChanges) -> Option<&'static str> {
    let none = SsoChanges::default();
    let alone: [(&'static str, SsoChanges); 13] = [
        (
            "sp_entity_id",
            SsoChanges {
                sp_entity_id: c.sp_entity_id.clone(),
                ..none.clone()
            },
        ),
        (
            "acs_urls",
            SsoChanges {
                acs_urls: c.acs_urls.clone(),
                ..none.clone()
            },
        ),
        (
            "nameid_format",
            SsoChanges {
                nameid_format: c.nameid_format.clone(),
                ..none.clone()
            },
        ),
        (
            "nameid_source",
            SsoChanges {
                nameid_source: c.nameid_source.clone(),
                ..none.clone()
            },
        ),
        (
            "attributes",
            SsoChanges {
                attributes: c.attributes.clone(),
                ..none.clone()
            },
        ),
        (
            "relay_state",
            SsoChanges {
                relay_state: c.relay_state.clone(),
                ..none.clone()
            },
        ),
        (
            "idp_entity_id",
            SsoChanges {
                idp_entity_id: c.idp_entity_id.clone(),
                ..none.clone()
            },
        ),
        (
            "sp_certificate",
            SsoChanges {
                sp_certs_pem: c.sp_certs_pem.clone(),
                ..none.clone()
            },
        ),
        (
            "slo_url",
            SsoChanges {
                slo_url: c.slo_url.clone(),
                ..none.clone()
            },
        ),
        (
            "slo_response_url",
            SsoChanges {
                slo_response_url: c.slo_response_url.clone(),
                slo_url: c.slo_url.clone(),
                ..none.clone()
            },
        ),
        (
            "sp_encryption_certificate",
            SsoChanges {
                sp_encryption_cert_pem: c.sp_encryption_cert_pem.clone(),
                ..none.clone()
            },
        ),
        (
            "encryption",
            SsoChanges {
                encryption: c.encryption.clone(),
                sp_encryption_cert_pem: c.sp_encryption_cert_pem.clone(),
                ..none.clone()
            },
        ),
        (
            "require_signed_requests",
            SsoChanges {
                require_signed_requests: c.require_signed_requests,
                sp_certs_pem: c.sp_certs_pem.clone(),
                ..none.clone()
            },
        ),
    ];
    alone
        .into_iter()
        .find(|(_, one)| revise(before.clone(), one).is_err())
        .map(|(field, _)| field)
}

/// The settings of an app whose SSO was never configured.
pub fn defaults() -> SsoRow {
    SsoRow {
        nameid_format: "email".into(),
        nameid_source: "email".into(),
        slo: SloRow {
            binding: SloBinding::Redirect.as_str().into(),
            ..SloRow::default()
        },
        ..SsoRow::default()
    }
}

/// The app and its SAML settings (defaults when never configured).
pub async fn get(db: &Db, slug: &str) -> Result<(App, SsoRow), DirectoryError> {
    let mut conn = db.read().await?;
    let app = apps::find(&mut conn, slug).await?;
    let row = sso::get(&mut conn, app.id).await?.unwrap_or_else(defaults);
    Ok((app, row))
}

pub async fn update(
    db: &Db,
    actor: &Actor,
    slug: &str,
    changes: &SsoChanges,
) -> Result<SsoRow, DirectoryError> {
    let mut tx = db.begin().await?;
    let app = apps::find(&mut tx, slug).await?;
    let before = sso::get(&mut tx, app.id).await?.unwrap_or_else(defaults);
    let after = revise(before.clone(), changes)?;
    if after != before {
        sso::put(&mut tx, app.id, &after).await?;
        let mut shown = json!(after);
        // Certificates are public, but long: the event records whether there are some.
        shown["sp_certs"] = json!(after.sp_cert_count());
        shown["sp_encryption_cert"] = json!(SpEncryptionCert::load(&after.sp_encryption_cert)
            .map(|c| c.fingerprint())
            .unwrap_or_default());
        audit(
            &mut tx,
            actor,
            "app_sso_update",
            Some(slug),
            None,
            json!({ "settings": shown }),
        )
        .await?;
    }
    tx.commit_app_change().await?;
    Ok(after)
}

/// `{base_url}/saml2/{slug}`: the IdP URL, SSO endpoint for both bindings.
pub fn sso_url(base_url: &Url, slug: &str) -> String {
    format!("{}saml2/{slug}", base_url.as_str())
}

/// The IdP entity id: the override when set, else the SSO URL.
pub fn idp_entity_id(base_url: &Url, slug: &str, row: &SsoRow) -> String {
    if row.idp_entity_id.is_empty() {
        sso_url(base_url, slug)
    } else {
        row.idp_entity_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acs_urls_are_kept_verbatim_and_checked() {
        assert_eq!(
            acs_url("https://sp.example/ACS?x=1").unwrap(),
            "https://sp.example/ACS?x=1"
        );
        for bad in [
            "/relative",
            "ftp://sp.example/acs",
            "https://sp.example/acs#frag",
            "https://sp.example/a b",
            "javascript:alert(1)",
        ] {
            assert!(acs_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_rules() {
        let c = SsoChanges {
            acs_urls: Some(vec!["https://a/1".into(), "https://a/2".into()]),
            ..Default::default()
        };
        let row = revise(defaults(), &c).unwrap();
        assert_eq!(
            row.acs,
            vec![
                (0, "https://a/1".into(), true),
                (1, "https://a/2".into(), false)
            ]
        );
        let twice = SsoChanges {
            acs_urls: Some(vec!["https://a/1".into(), "https://a/1".into()]),
            ..Default::default()
        };
        assert!(revise(defaults(), &twice).is_err());
        let unsigned = SsoChanges {
            require_signed_requests: Some(true),
            ..Default::default()
        };
        assert!(
            revise(defaults(), &unsigned).is_err(),
            "signed requests need a certificate"
        );
        assert!(relay_state("a\r\nSet-Cookie: x").is_err());
        assert!(relay_state(&"x".repeat(1025)).is_err());
        assert!(sp_certs("not pem").is_err());
        assert_eq!(
            NameIdFormat::parse("email").unwrap().urn(),
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        );
        assert!(NameIdFormat::parse("x509").is_err());
        assert!(NameIdSource::parse("phone").is_err());
    }

    #[test]
    fn encryption_needs_a_usable_certificate() {
        use crate::saml::keys::{KeyKind, SigningKey};
        let rsa = SigningKey::generate(KeyKind::Rsa).unwrap();
        let on = |cert: Option<&str>| SsoChanges {
            encryption: Some("aes256-gcm".into()),
            sp_encryption_cert_pem: cert.map(str::to_string),
            ..Default::default()
        };
        let err = |c: &SsoChanges| revise(defaults(), c).unwrap_err().to_string();
        assert!(err(&on(None)).contains("need the SP encryption certificate"));
        assert!(err(&on(Some("-----BEGIN CERTIFICATE-----\nxx")))
            .contains("The SP encryption certificate is not a PEM certificate"));
        let ec = SigningKey::generate(KeyKind::EcP256).unwrap();
        assert!(
            err(&on(Some(&ec.cert_pem))).contains("The SP encryption certificate has an EC key")
        );
        let row = revise(defaults(), &on(Some(&rsa.cert_pem))).unwrap();
        assert_eq!(row.encryption, Encryption::Aes256Gcm);
        assert_eq!(row.sp_encryption_cert, rsa.cert_pem);
        let removed = SsoChanges {
            sp_encryption_cert_pem: Some(String::new()),
            ..Default::default()
        };
        assert!(
            revise(row.clone(), &removed).is_err(),
            "not while encrypting"
        );
        let off = SsoChanges {
            encryption: Some("off".into()),
            ..removed
        };
        let row = revise(row, &off).unwrap();
        assert_eq!(
            (row.encryption, row.sp_encryption_cert.as_str()),
            (Encryption::Off, "")
        );
        assert!(err(&SsoChanges {
            encryption: Some("rsa15".into()),
            ..Default::default()
        })
        .contains("must be off, aes256-gcm or legacy"));
        // A certificate kept from before is checked again when encryption is switched on.
        let kept = SsoRow {
            sp_encryption_cert: ec.cert_pem.clone(),
            ..defaults()
        };
        assert!(revise(kept, &on(None)).is_err());
    }
}
