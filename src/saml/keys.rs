//! The IdP's signing keys under `certs_dir`: generated on first start (RSA-2048, or ECDSA
//! P-256 on request), with a self-signed certificate that SPs pin. Rollover: a *next* key is
//! staged and published in metadata beside the active one, then activated once the SPs have
//! picked it up. Private keys are written with mode 0600 and never logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use super::keyring::{KeyScope, LiveKeys};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509NameBuilder, X509};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("openssl: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("{0}")]
    State(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum KeyKind {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECDSA-P256")]
    EcP256,
}

/// A private key and its certificate.
#[derive(Clone)]
pub struct SigningKey {
    pub kind: KeyKind,
    pub key: PKey<Private>,
    pub cert: X509,
    /// The certificate as PEM (what `certificate.pem` serves).
    pub cert_pem: String,
    /// The certificate's DER in base64 (what metadata's `ds:X509Certificate` holds).
    pub cert_b64: String,
    /// SHA-256 fingerprint, colon-separated hex, for people to compare.
    pub fingerprint: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind)
            .field("fingerprint", &self.fingerprint)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    pub fn generate(kind: KeyKind) -> Result<Self, KeyError> {
        let key = match kind {
            KeyKind::Rsa => PKey::from_rsa(Rsa::generate(2048)?)?,
            KeyKind::EcP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
        };
        let cert = self_signed(&key)?;
        Self::from_parts(key, cert)
    }

    fn from_parts(key: PKey<Private>, cert: X509) -> Result<Self, KeyError> {
        let kind = match key.id() {
            Id::RSA => KeyKind::Rsa,
            Id::EC => KeyKind::EcP256,
            _ => {
                return Err(KeyError::State(
                    "signing key must be RSA or ECDSA P-256".into(),
                ))
            }
        };
        if !cert.public_key()?.public_eq(&key) {
            return Err(KeyError::State(
                "the certificate does not match the private key".into(),
            ));
        }
        let cert_pem = String::from_utf8_lossy(&cert.to_pem()?).into_owned();
        let cert_b64 = STANDARD.encode(cert.to_der()?);
        let fingerprint = cert
            .digest(MessageDigest::sha256())?
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(SigningKey {
            kind,
            key,
            cert,
            cert_pem,
            cert_b64,
            fingerprint,
        })
    }

    fn load(dir: &Path, stem: &str) -> Result<Option<Self>, KeyError> {
        let (key_path, cert_path) = paths(dir, stem);
        if !key_path.exists() {
            return Ok(None);
        }
        let key = PKey::private_key_from_pem(&read(&key_path)?)?;
        let cert = X509::from_pem(&read(&cert_path)?)?;
        Ok(Some(Self::from_parts(key, cert)?))
    }

    fn save(&self, dir: &Path, stem: &str) -> Result<(), KeyError> {
        let (key_path, cert_path) = paths(dir, stem);
        write_private(&key_path, &self.key.private_key_to_pem_pkcs8()?)?;
        write_atomic(&cert_path, self.cert_pem.as_bytes(), 0o644)?;
        Ok(())
    }
}

/// A self-signed certificate valid for ten years: SPs pin it, they do not chain it.
fn self_signed(key: &PKey<Private>) -> Result<X509, KeyError> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "sesame SAML IdP")?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "sesame")?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

const ACTIVE: &str = "idp-signing";
const NEXT: &str = "idp-signing-next";
const PREVIOUS: &str = "idp-signing-previous";

fn paths(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{stem}.key")),
        dir.join(format!("{stem}.crt")),
    )
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    write_atomic(path, bytes, 0o600)
}

/// Writes to a temporary file with `mode` from the start, then renames over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    // One temporary file per target (a key's and a certificate's never share one), and its
    // mode set again after opening: a leftover from a crash keeps its old mode otherwise.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut f = options.open(&tmp).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The active key and, during a rollover, the next one.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub active: SigningKey,
    pub next: Option<SigningKey>,
}

impl KeySet {
    /// Loads the keys, generating an RSA-2048 active key when there is none (first start).
    /// Returns whether one was generated.
    pub fn load_or_generate(dir: &Path) -> Result<(KeySet, bool), KeyError> {
        if let Some(set) = Self::load(dir)? {
            return Ok((set, false));
        }
        let set = generate(dir, KeyKind::Rsa, false)?;
        Ok((set, true))
    }

    pub fn load(dir: &Path) -> Result<Option<KeySet>, KeyError> {
        let Some(active) = SigningKey::load(dir, ACTIVE)? else {
            return Ok(None);
        };
        let next = SigningKey::load(dir, NEXT)?;
        Ok(Some(KeySet { active, next }))
    }

    /// The keys metadata publishes: the active one, then the next one.
    pub fn published(&self) -> Vec<&SigningKey> {
        std::iter::once(&self.active)
            .chain(self.next.as_ref())
            .collect()
    }

    /// When the key files last changed (a running server reloads when this moves).
    pub fn stamp(dir: &Path) -> Option<SystemTime> {
        [ACTIVE, NEXT]
            .iter()
            .filter_map(|s| {
                std::fs::metadata(paths(dir, s).1)
                    .and_then(|m| m.modified())
                    .ok()
            })
            .max()
    }
}

fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
        path: dir.into(),
        source,
    })
}

/// Generates a new active key. Replacing an existing one breaks every SP that pinned it,
/// so that needs `force` (the gentle way is `stage_next` + `activate_next`).
pub fn generate(dir: &Path, kind: KeyKind, force: bool) -> Result<KeySet, KeyError> {
    ensure_dir(dir)?;
    if !force && paths(dir, ACTIVE).0.exists() {
        return Err(KeyError::State(format!(
            "{} already holds a signing key; replacing it breaks every SP that trusts it. \
             Use `cert stage-next` then `cert activate-next`, or --force",
            dir.display()
        )));
    }
    SigningKey::generate(kind)?.save(dir, ACTIVE)?;
    KeySet::load_required(dir)
}

impl KeySet {
    fn load_required(dir: &Path) -> Result<KeySet, KeyError> {
        KeySet::load(dir)?
            .ok_or_else(|| KeyError::State(format!("no signing key in {}", dir.display())))
    }
}

/// Creates the next key, published in metadata from now on but not yet used to sign.
pub fn stage_next(dir: &Path, kind: KeyKind) -> Result<KeySet, KeyError> {
    let set = KeySet::load_required(dir)?;
    if set.next.is_some() {
        return Err(KeyError::State(
            "a next key is already staged; activate it first".into(),
        ));
    }
    SigningKey::generate(kind)?.save(dir, NEXT)?;
    KeySet::load_required(dir)
}

/// Makes the staged key the active one; the old active key is kept as `idp-signing-previous`.
pub fn activate_next(dir: &Path) -> Result<KeySet, KeyError> {
    let set = KeySet::load_required(dir)?;
    let Some(next) = set.next else {
        return Err(KeyError::State(
            "no next key is staged (run `cert stage-next` first)".into(),
        ));
    };
    set.active.save(dir, PREVIOUS)?;
    next.save(dir, ACTIVE)?;
    for p in [paths(dir, NEXT).0, paths(dir, NEXT).1] {
        std::fs::remove_file(&p).map_err(|source| KeyError::Io {
            path: p.clone(),
            source,
        })?;
    }
    KeySet::load_required(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_rsa_with_private_file_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (set, created) = KeySet::load_or_generate(dir.path()).unwrap();
        assert!(created);
        assert_eq!(set.active.kind, KeyKind::Rsa);
        assert_eq!(set.active.key.bits(), 2048);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("idp-signing.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = KeySet::load_or_generate(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.active.fingerprint, set.active.fingerprint);
        assert!(!format!("{:?}", set.active).contains("PRIVATE"));
    }

    #[test]
    fn rollover_publishes_next_then_switches() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path(), KeyKind::Rsa, false).unwrap();
        assert!(
            generate(dir.path(), KeyKind::EcP256, false).is_err(),
            "no silent replacement"
        );
        assert!(activate_next(dir.path()).is_err());
        let staged = stage_next(dir.path(), KeyKind::EcP256).unwrap();
        assert_eq!(staged.published().len(), 2);
        assert_eq!(staged.active.fingerprint, first.active.fingerprint);
        let next_fp = staged.next.as_ref().unwrap().fingerprint.clone();
        assert!(stage_next(dir.path(), KeyKind::Rsa).is_err());
        let switched = activate_next(dir.path()).unwrap();
        assert_eq!(switched.active.fingerprint, next_fp);
        assert_eq!(switched.active.kind, KeyKind::EcP256);
        assert!(switched.next.is_none());
        assert!(dir.path().join("idp-signing-previous.key").exists());
    }
}
