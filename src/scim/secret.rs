//! Secrets at rest (SECURITY 14): SCIM tokens and passwords are stored AES-256-GCM encrypted
//! with a key that is not in the database (config `secret_key`, or `certs/secrets.key`,
//! generated with mode 0600 on first use). `Secret` never prints its value.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

/// A credential in memory; `Debug` and `Display` show `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("the secret key is not base64 of 32 bytes")]
    BadKey,
    #[error("a stored credential cannot be decrypted (wrong secret_key?)")]
    Decrypt,
    #[error("openssl: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// The 256-bit key that seals credentials.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    /// The configured key (`secret_key`), else the one in (or newly written to)
    /// `certs_dir/secrets.key`.
    pub fn load(configured: &Secret, certs_dir: &std::path::Path) -> Result<Self, SecretError> {
        if !configured.is_empty() {
            return Self::from_b64(configured.expose());
        }
        let path = certs_dir.join("secrets.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_b64(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::generate(&path),
            Err(e) => Err(SecretError::KeyFile(path.display().to_string(), e)),
        }
    }

    fn from_b64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(text).map_err(|_| SecretError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(SealKey(key))
    }

    fn generate(path: &Path) -> Result<Self, SecretError> {
        let mut key = [0u8; 32];
        openssl::rand::rand_bytes(&mut key)?;
        let io = |e| SecretError::KeyFile(path.display().to_string(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(path) {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, STANDARD.encode(key).as_bytes()).map_err(io)?;
                Ok(SealKey(key))
            }
            // Another process (the CLI beside `serve`) created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(io)?;
                Self::from_b64(text.trim())
            }
            Err(e) => Err(io(e)),
        }
    }

    /// `v1:` + base64(nonce ‖ tag ‖ ciphertext); `context` is bound in as associated data
    /// (the app the credential belongs to), so a sealed value cannot be moved to another.
    pub fn seal(&self, secret: &Secret, context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; 12];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            context.as_bytes(),
            secret.expose().as_bytes(),
            &mut tag,
        )?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&tag);
        out.extend_from_slice(&ct);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret, SecretError> {
        if sealed.is_empty() {
            return Ok(Secret::new(""));
        }
        let raw = sealed
            .strip_prefix("v1:")
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|r| r.len() >= 28)
            .ok_or(SecretError::Decrypt)?;
        let (nonce, rest) = raw.split_at(12);
        let (tag, ct) = rest.split_at(16);
        let plain = decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(nonce),
            context.as_bytes(),
            ct,
            tag,
        )
        .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| SecretError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_bound_to_context_and_redacted() {
        let k = SealKey([7; 32]);
        let s = Secret::new("tok-123");
        let sealed = k.seal(&s, "app:1").unwrap();
        assert!(!sealed.contains("tok-123"));
        assert_eq!(k.open(&sealed, "app:1").unwrap(), s);
        assert!(k.open(&sealed, "app:2").is_err(), "bound to its app");
        assert!(SealKey([8; 32]).open(&sealed, "app:1").is_err());
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    }
}
