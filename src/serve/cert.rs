//! The certificate the HTTPS listener presents, and its reload: a renewal written by another
//! tool (certbot, lego) is picked up without a restart. A watcher looks at the two files
//! once a second (size, modification time and inode, following symlinks, so certbot's
//! `live/` links moving to new files count); when either changed it loads the pair and swaps
//! it in for the next handshakes. A pair that does not load (half written, a key that does
//! not match) is logged and the last good one stays: a bad renewal never stops the service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use openssl::pkey::PKey;
use openssl::x509::X509;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Files above this are not certificates (a chain is a few KiB).
const MAX_PEM: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is larger than 1 MiB")]
    TooLarge(PathBuf),
    #[error("{0} holds no PEM certificate: {1}")]
    Cert(PathBuf, String),
    #[error("{0} holds no PEM private key: {1}")]
    Key(PathBuf, String),
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("rustls refused the pair: {0}")]
    Rustls(#[from] rustls::Error),
}

/// One loaded pair, with what the logs say about it.
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// The leaf's subject and expiry, for the log.
    pub summary: String,
}

/// Reads and checks `cert` (the leaf first, then its chain) and `key` (PKCS#8, PKCS#1 or
/// SEC1, as OpenSSL reads them).
pub fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Loaded, CertError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain =
        X509::stack_from_pem(&cert_pem).map_err(|e| CertError::Cert(cert.into(), e.to_string()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| CertError::Cert(cert.into(), "no certificate".into()))?;
    let pkey = PKey::private_key_from_pem(&key_pem)
        .map_err(|e| CertError::Key(key.into(), e.to_string()))?;
    let matches = leaf.public_key().is_ok_and(|p| p.public_eq(&pkey));
    if !matches {
        return Err(CertError::Mismatch {
            cert: cert.into(),
            key: key.into(),
        });
    }
    let der = |c: &X509| {
        c.to_der()
            .map_err(|e| CertError::Cert(cert.into(), e.to_string()))
    };
    let certs = chain
        .iter()
        .map(|c| der(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()?;
    let pkcs8 = pkey
        .private_key_to_pkcs8()
        .map_err(|e| CertError::Key(key.into(), e.to_string()))?;
    let pair = CertifiedKey::from_der(
        certs,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
        provider,
    )?;
    let subject = leaf
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Loaded {
        key: Arc::new(pair),
        summary: format!("{subject} (until {})", leaf.not_after()),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    let meta = std::fs::metadata(path).map_err(|e| CertError::Read(path.into(), e))?;
    if meta.len() > MAX_PEM {
        return Err(CertError::TooLarge(path.into()));
    }
    std::fs::read(path).map_err(|e| CertError::Read(path.into(), e))
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    })
}

/// The certificate handshakes get: the last pair that loaded.
#[derive(Debug)]
pub struct LiveCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl LiveCert {
    /// Loads the pair once; a failure here stops the start (there is nothing to serve).
    pub fn open(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<LiveCert>, CertError> {
        let loaded = load(cert, key, &provider)?;
        tracing::info!(cert = %cert.display(), certificate = %loaded.summary, "TLS certificate loaded");
        Ok(Arc::new(LiveCert {
            cert: cert.into(),
            key: key.into(),
            provider,
            current: RwLock::new(loaded.key),
        }))
    }

    fn stamps(&self) -> (Option<Stamp>, Option<Stamp>) {
        (stamp(&self.cert), stamp(&self.key))
    }

    /// Loads the files again and swaps them in, or keeps the current pair and says why.
    fn reload(&self) {
        match load(&self.cert, &self.key, &self.provider) {
            Ok(loaded) => {
                if let Ok(mut current) = self.current.write() {
                    *current = loaded.key;
                }
                tracing::info!(cert = %self.cert.display(), certificate = %loaded.summary, "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the TLS certificate or key changed but could not be loaded: still serving the previous certificate");
            }
        }
    }

    /// Runs until aborted: reloads when either file changes. A failed load is tried again
    /// at the next change only (a half-written renewal is finished by a later write).
    pub async fn watch(self: Arc<Self>) {
        let mut seen = self.stamps();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let me = self.clone();
            let now = tokio::task::spawn_blocking(move || me.stamps()).await;
            let Ok(now) = now else { continue };
            if now == seen {
                continue;
            }
            seen = now;
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.reload()).await;
        }
    }
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole pair (the swap is one assignment).
        Some(match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}
