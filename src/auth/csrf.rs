//! CSRF tokens (SECURITY 11): one random token per session, put in every form as a hidden
//! field and compared in constant time on every POST.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// `bytes` random bytes from the OS generator, URL-safe base64.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn new_token() -> String {
    random_token(32)
}

/// Whether the token from the form equals the session's, in constant time.
pub fn matches(expected: Option<&str>, given: &str) -> bool {
    match expected {
        Some(e) if !e.is_empty() => e.as_bytes().ct_eq(given.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, new_token());
        assert!(matches(Some(&t), &t));
        assert!(!matches(Some(&t), "x"));
        assert!(!matches(None, ""));
        assert!(!matches(Some(""), ""));
    }
}
