//! Time-based one-time passwords (RFC 6238) in the form every authenticator app reads:
//! HMAC-SHA-1, 30-second steps, 6 digits. `totp-rs` computes the codes; this module picks the
//! time steps a code may match (one step of clock skew either way, §5.2) and says which one it
//! matched, so that the caller can refuse a code whose step was already spent.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps of clock skew accepted either side of now.
pub const SKEW: u64 = 1;
/// 160 bits, the length RFC 4226 §4 recommends for the HMAC-SHA-1 key.
pub const SECRET_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
#[error("the authenticator secret is unusable: {0}")]
pub struct TotpError(String);

fn totp(secret: &[u8]) -> Result<TOTP, TotpError> {
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec())
        .map_err(|e| TotpError(e.to_string()))
}

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_LEN];
    openssl::rand::rand_bytes(&mut s).unwrap_or_else(|_| {
        // OpenSSL's CSPRNG does not fail once seeded; fall back to the OS generator.
        use rand::RngCore;
        rand::rngs::OsRng.fill_bytes(&mut s)
    });
    s
}

/// The secret as people type it into an app by hand (RFC 4648 base32, no padding).
pub fn base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URL an authenticator app reads from the QR code (the Key Uri Format of
/// Google Authenticator, which every app follows).
pub fn otpauth_url(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The QR code of `text` as an SVG element (drawn here: no image leaves the server).
pub fn qr_svg(text: &str) -> Result<String, TotpError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| TotpError(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The time step `code` is the code of, within [`SKEW`] steps of `now` (unix seconds); `None`
/// if it matches none. The comparison is constant-time.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Result<Option<i64>, TotpError> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(secret)?;
    let now_step = now / STEP_SECS;
    let mut found = None;
    for step in now_step.saturating_sub(SKEW)..=now_step + SKEW {
        let expected = t.generate(step * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step as i64);
        }
    }
    Ok(found)
}

/// The code for `now` (tests and the enrolment page's self-check use it).
pub fn code_at(secret: &[u8], now: u64) -> Result<String, TotpError> {
    Ok(totp(secret)?.generate(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (8 digits there; the last 6 here).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(secret, t).unwrap(), code, "T={t}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = (now / STEP_SECS) as i64;
        assert_eq!(matching_step(&secret, &code, now).unwrap(), Some(step));
        assert_eq!(
            matching_step(&secret, &code, now + STEP_SECS).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, &code, now - STEP_SECS).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, &code, now + 2 * STEP_SECS).unwrap(),
            None
        );
        assert_eq!(matching_step(&secret, "12345", now).unwrap(), None);
        assert_eq!(matching_step(&secret, "abcdef", now).unwrap(), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&secret, &spaced, now).unwrap(), Some(step));
    }

    #[test]
    fn the_url_and_the_qr_code_carry_the_secret() {
        let secret = new_secret();
        let url = otpauth_url(&secret, "sesame", "alice@example.com");
        assert!(url.starts_with("otpauth://totp/sesame:alice%40example%2Ecom?secret="));
        assert!(url.contains(&base32(&secret)));
        assert_eq!(base32(&secret).len(), 32);
        assert!(qr_svg(&url).unwrap().starts_with("<?xml"));
    }
}
