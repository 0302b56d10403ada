//! The SP's encryption certificate: the checks it passes before it is kept (one PEM
//! certificate, an RSA key of at least 2048 bits, valid now), what people are shown of it,
//! and the RSA-OAEP key transport to its key (XML Encryption 1.1 §5.5.2, RFC 8017 §7.1).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::encrypt::Encrypter;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Padding;
use openssl::x509::X509;

/// The smallest RSA key assertions are encrypted to.
pub const MIN_RSA_BITS: u32 = 2048;

/// Why a certificate cannot be encrypted to; each reads after "The SP encryption certificate".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NotPem,
    #[error("field holds {0} certificates; give exactly one")]
    Several(usize),
    #[error("has {0} key; assertions can be encrypted only to an RSA key")]
    NotRsa(&'static str),
    #[error("has a {0}-bit RSA key; at least {MIN_RSA_BITS} bits are needed")]
    TooSmall(u32),
    #[error("expired on {0}")]
    Expired(String),
    #[error("is not valid before {0}")]
    NotYetValid(String),
    #[error("cannot be read: {0}")]
    Unreadable(String),
}

impl From<ErrorStack> for CertError {
    fn from(e: ErrorStack) -> Self {
        CertError::Unreadable(e.to_string())
    }
}

/// An SP's encryption certificate with an RSA key.
#[derive(Clone)]
pub struct SpEncryptionCert {
    cert: X509,
    key: PKey<Public>,
    /// The DER in base64, for the `ds:X509Certificate` that tells the SP which key to use.
    pub(super) b64: String,
}

impl std::fmt::Debug for SpEncryptionCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpEncryptionCert")
            .field("subject", &self.subject())
            .finish()
    }
}

fn to_utc(t: &Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    DateTime::from_timestamp(i64::from(d.days) * 86_400 + i64::from(d.secs), 0)
}

fn day(t: &Asn1TimeRef) -> String {
    to_utc(t).map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

impl SpEncryptionCert {
    /// The checks made when an admin (or SP metadata) gives the certificate: exactly one PEM
    /// certificate, an RSA key of at least [`MIN_RSA_BITS`], valid at `now`.
    pub fn check(pem: &str, now: DateTime<Utc>) -> Result<Self, CertError> {
        let certs = X509::stack_from_pem(pem.as_bytes()).map_err(|_| CertError::NotPem)?;
        let cert = match certs.len() {
            0 => return Err(CertError::NotPem),
            1 => certs.into_iter().next().ok_or(CertError::NotPem)?,
            n => return Err(CertError::Several(n)),
        };
        let c = Self::from_cert(cert)?;
        let at = Asn1Time::from_unix(now.timestamp())?;
        if c.cert.not_after() < at {
            return Err(CertError::Expired(day(c.cert.not_after())));
        }
        if c.cert.not_before() > at {
            return Err(CertError::NotYetValid(day(c.cert.not_before())));
        }
        Ok(c)
    }

    /// A stored certificate at sign-in time: the key checks again, not the dates (a key
    /// whose certificate ran out since still keeps the assertion from the browser; the
    /// console shows the date).
    pub fn load(pem: &str) -> Result<Self, CertError> {
        Self::from_cert(X509::from_pem(pem.as_bytes()).map_err(|_| CertError::NotPem)?)
    }

    fn from_cert(cert: X509) -> Result<Self, CertError> {
        let key = cert.public_key()?;
        match key.id() {
            Id::RSA => {}
            Id::EC => return Err(CertError::NotRsa("an EC")),
            Id::ED25519 | Id::ED448 => return Err(CertError::NotRsa("an EdDSA")),
            Id::DSA => return Err(CertError::NotRsa("a DSA")),
            _ => return Err(CertError::NotRsa("a non-RSA")),
        }
        if key.bits() < MIN_RSA_BITS {
            return Err(CertError::TooSmall(key.bits()));
        }
        let b64 = STANDARD.encode(cert.to_der()?);
        Ok(SpEncryptionCert { cert, key, b64 })
    }

    /// The certificate as PEM, as stored.
    pub fn pem(&self) -> String {
        self.cert
            .to_pem()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default()
    }

    pub fn subject(&self) -> String {
        self.cert
            .subject_name()
            .entries()
            .map(|e| {
                let name = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{name}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SHA-256 fingerprint, colon-separated hex, as the signing key's is shown.
    pub fn fingerprint(&self) -> String {
        self.cert
            .digest(MessageDigest::sha256())
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default()
    }

    /// The end of validity, `YYYY-MM-DD HH:MM UTC`.
    pub fn not_after(&self) -> String {
        day(self.cert.not_after())
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        Asn1Time::from_unix(now.timestamp()).is_ok_and(|at| self.cert.not_after() < at)
    }

    /// For people (console, CLI): subject, end of validity (and whether it has passed) and
    /// fingerprint.
    pub fn summary(&self, now: DateTime<Utc>) -> String {
        let expired = if self.expired(now) { " (expired)" } else { "" };
        format!(
            "{}, valid until {}{expired}, SHA-256 {}",
            self.subject(),
            self.not_after(),
            self.fingerprint()
        )
    }

    /// RSAES-OAEP (RFC 8017 §7.1) with exactly the parameters `rsa-oaep-mgf1p` names: SHA-1
    /// digest, MGF1 with SHA-1, an empty label (no `xenc:OAEPparams`).
    pub(super) fn wrap(&self, key: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        let mut e = Encrypter::new(&self.key)?;
        e.set_rsa_padding(Padding::PKCS1_OAEP)?;
        e.set_rsa_oaep_md(MessageDigest::sha1())?;
        e.set_rsa_mgf1_md(MessageDigest::sha1())?;
        let mut out = vec![0; e.encrypt_len(key)?];
        let n = e.encrypt(key, &mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
pub(in crate::saml) mod tests {
    use super::*;
    use crate::saml::keys::{KeyKind, SigningKey};
    use openssl::bn::{BigNum, MsbOption};
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};

    pub(in crate::saml) fn cert_for(key: &PKey<Private>, from_days: i64, to_days: i64) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "sp.example").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let mut serial = BigNum::new().unwrap();
        serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        let at = |d: i64| Asn1Time::from_unix(Utc::now().timestamp() + d * 86_400).unwrap();
        b.set_not_before(&at(from_days)).unwrap();
        b.set_not_after(&at(to_days)).unwrap();
        b.sign(key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    pub(in crate::saml) fn pem(c: &X509) -> String {
        String::from_utf8(c.to_pem().unwrap()).unwrap()
    }
    #[test]
    fn certificates_are_checked_before_they_are_kept() {
        let now = Utc::now();
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let good = pem(&cert_for(&rsa, -1, 30));
        let c = SpEncryptionCert::check(&good, now).unwrap();
        assert_eq!(c.subject(), "CN=sp.example");
        assert_eq!(c.fingerprint().len(), 32 * 3 - 1);
        assert!(!c.expired(now));
        assert!(c.summary(now).starts_with("CN=sp.example, valid until "));
        assert_eq!(SpEncryptionCert::load(&c.pem()).unwrap().b64, c.b64);

        let expired = pem(&cert_for(&rsa, -30, -1));
        assert!(matches!(
            SpEncryptionCert::check(&expired, now),
            Err(CertError::Expired(_))
        ));
        assert!(
            SpEncryptionCert::load(&expired).is_ok(),
            "a stored key still encrypts after its date"
        );
        let early = pem(&cert_for(&rsa, 2, 30));
        assert!(matches!(
            SpEncryptionCert::check(&early, now),
            Err(CertError::NotYetValid(_))
        ));
        assert_eq!(
            SpEncryptionCert::check("not a certificate", now).unwrap_err(),
            CertError::NotPem
        );
        assert_eq!(
            SpEncryptionCert::check(&format!("{good}{good}"), now).unwrap_err(),
            CertError::Several(2)
        );
        let ec = SigningKey::generate(KeyKind::EcP256).unwrap();
        assert_eq!(
            SpEncryptionCert::check(&ec.cert_pem, now).unwrap_err(),
            CertError::NotRsa("an EC")
        );
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert_eq!(
            SpEncryptionCert::check(&pem(&cert_for(&small, -1, 30)), now).unwrap_err(),
            CertError::TooSmall(1024)
        );
        let msg = CertError::Expired("2020-01-01 00:00 UTC".into()).to_string();
        assert_eq!(msg, "expired on 2020-01-01 00:00 UTC");
    }
}
