//! Argon2id password hashing (SECURITY 12: 19 MiB, t=2, p=1), always on the blocking pool
//! and at most a few at a time, so a burst of logins neither stalls the async threads nor
//! allocates unbounded memory. Unknown users are checked against a dummy hash so that the
//! answer takes the same time.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::directory::DirectoryError;

/// A plaintext password: never printed, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The default shortest new password (NIST SP 800-63B §3.1.1.2 asks for at least 8, and
/// recommends more for a single factor; `password_min_length` changes it).
pub const DEFAULT_MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

static MIN_LEN: AtomicUsize = AtomicUsize::new(DEFAULT_MIN_LEN);

/// The shortest new password accepted, as configured.
pub fn min_len() -> usize {
    MIN_LEN.load(Ordering::Relaxed)
}

/// Sets the policy from the configuration (at start, by `serve` and the CLI).
pub fn set_min_len(n: usize) {
    MIN_LEN.store(n, Ordering::Relaxed);
}

/// The rules that need to know whose password it is: it must not contain the username
/// (NIST SP 800-63B §5.1.1.2: context-specific words).
pub fn check_for(password: &Password, username: &str) -> Result<(), DirectoryError> {
    let name = username.trim().to_lowercase();
    if name.chars().count() >= 3 && password.0.to_lowercase().contains(&name) {
        return Err(DirectoryError::Invalid(
            "the password must not contain the username".into(),
        ));
    }
    Ok(())
}

/// The most common passwords (NIST SP 800-63B §5.1.1.2: "passwords obtained from previous
/// breach corpuses"): 100,000 distinct entries, lower-cased, of which those of 8 or more
/// characters are kept (shorter ones never pass the length rule). Sorted bytewise, one per
/// line; `scripts/common-passwords.sh` says where it comes from and rebuilds it.
static COMMON: &str = include_str!("common-passwords.txt");

/// Whether `password`, ignoring case, is in [`COMMON`]: a binary search over the sorted text
/// itself, so the list costs no memory beyond the binary's.
pub fn is_common(password: &str) -> bool {
    let needle = password.to_lowercase();
    let text = COMMON.as_bytes();
    // `lo` is always the start of a line and `hi` the end of one (or of the text).
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = text[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = text[start..hi]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(hi, |i| start + i);
        match text[start..end].cmp(needle.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

impl Password {
    /// A password that meets the policy for a new password.
    pub fn new(s: String) -> Result<Self, DirectoryError> {
        let n = s.chars().count();
        let min = min_len();
        if n < min {
            return Err(DirectoryError::Invalid(format!(
                "the password must be at least {min} characters"
            )));
        }
        if n > MAX_LEN {
            return Err(DirectoryError::Invalid(format!(
                "the password must be at most {MAX_LEN} characters"
            )));
        }
        if is_common(&s) {
            return Err(DirectoryError::Invalid(
                "this password is one of the most commonly used ones (it appears in lists of \
                 leaked passwords); choose another"
                    .into(),
            ));
        }
        Ok(Password(s))
    }
    /// A password as typed at login: only the length bound applies.
    pub fn typed(s: String) -> Self {
        let mut s = s;
        // Cut on a character boundary (`truncate` panics inside one).
        let mut end = s.len().min(MAX_LEN * 4);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        Password(s)
    }
    /// A random password for a first-start admin (24 URL-safe characters, 144 bits).
    pub fn generate() -> Self {
        Password(crate::auth::csrf::random_token(18))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Two hashes at once per core at most: each holds 19 MiB while it runs.
static HASHING: Semaphore = Semaphore::const_new(4);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let _permit = HASHING.acquire().await;
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub async fn hash(password: &Password) -> Result<String, DirectoryError> {
    let p = password.clone();
    blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(p.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| DirectoryError::Invalid(format!("cannot hash password: {e}")))
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(crate::auth::csrf::random_token(16).as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Checks `password` against `stored`; with no stored hash (unknown user, or no password
/// set) the dummy hash is checked instead and the answer is false.
pub async fn verify(password: &Password, stored: Option<String>) -> bool {
    let p = password.clone();
    blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        // argon2 compares the digests in constant time.
        argon2().verify_password(p.0.as_bytes(), &parsed).is_ok() && real
    })
    .await
}

/// Computes the dummy hash ahead of the first login, so that request is not the slow one.
pub async fn warm_up() {
    blocking(|| {
        dummy_hash();
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Password::new("correct horse".into()).unwrap();
        let h = hash(&p).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&p, Some(h.clone())).await);
        assert!(!verify(&Password::typed("wrong horse".into()), Some(h)).await);
        assert!(!verify(&p, None).await);
    }

    #[test]
    fn policy_and_redaction() {
        assert!(Password::new("short".into()).is_err());
        assert!(Password::new("x".repeat(MAX_LEN + 1)).is_err());
        let p = Password::new("secret-value".into()).unwrap();
        assert!(!format!("{p:?}").contains("secret-value"));
        assert_eq!(Password::generate().expose().len(), 24);
        // A typed password is cut at 4 KiB, never inside a character.
        let typed = Password::typed(format!("{}é tail", "a".repeat(MAX_LEN * 4 - 1)));
        assert_eq!(typed.expose().len(), MAX_LEN * 4 - 1);
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for p in ["password1234", "QwertyUIOP123", "iloveyou123", "!qaz1qaz"] {
            assert!(is_common(p), "{p}");
        }
        let err = Password::new("Password1234".into()).err().unwrap();
        assert!(err.to_string().contains("commonly used"), "{err}");
        assert!(!is_common("correct horse battery staple"));
        assert!(!is_common(""));
        assert!(!is_common("zzzzzzzzzzz~"));
    }

    #[test]
    fn the_list_is_sorted_and_every_entry_is_found() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert!(lines.len() > 39_000, "{}", lines.len());
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(lines.iter().all(|l| l.len() >= 8 && *l == l.to_lowercase()));
        // Every entry, the first and the last included, is found by the search.
        assert!(lines.iter().all(|l| is_common(l)));
        // Near misses are not.
        assert!(lines
            .iter()
            .step_by(97)
            .all(|l| !is_common(&format!("{l}\u{1}"))));
    }
}
