//! The SMTP settings, kept in the `settings` table (key `smtp`) as JSON with the password
//! sealed by `secret_key` (SECURITY 14), edited from the console, the API and the CLI
//! through [`update`]; every change is an `smtp_settings_update` event (never the password).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::directory::{audit, Actor, DirectoryError};
use crate::scim::secret::{SealKey, Secret};
use crate::store::{mfa, Conn, Db};

const KEY: &str = "smtp";
const SEAL_CONTEXT: &str = "smtp-password";

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (RFC 3207), required: usually port 587.
    Starttls,
    /// TLS from the first byte ("SMTPS", RFC 8314): usually port 465.
    Tls,
    /// No encryption: only to a loopback relay, or with `allow_plain`.
    None,
}

impl Security {
    pub const ALL: [Security; 3] = [Security::Starttls, Security::Tls, Security::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Security::Starttls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Security> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The stored settings; `password` is sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    pub from: String,
    /// Lets `security = none` reach a host that is not loopback.
    pub allow_plain: bool,
    /// Where the daily digest of provisioning failures goes ("": no digest).
    #[serde(default)]
    pub digest_to: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 587,
            security: Security::Starttls,
            username: String::new(),
            password: String::new(),
            from: String::new(),
            allow_plain: false,
            digest_to: String::new(),
        }
    }
}

impl SmtpSettings {
    /// Whether mail can be sent at all (a host and a sender).
    pub fn configured(&self) -> bool {
        !self.host.is_empty() && !self.from.is_empty()
    }

    /// The stored password, opened.
    pub fn password(&self, key: &SealKey) -> Result<Secret, super::MailError> {
        key.open(&self.password, SEAL_CONTEXT)
            .map_err(|_| super::MailError::Sealed)
    }
}

/// What the admin sees (console, API, CLI): everything but the password, which is only
/// said to be set or not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmtpView {
    pub configured: bool,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    /// Whether a password is stored (it is write-only).
    pub password_set: bool,
    pub from: String,
    pub allow_plain: bool,
    /// Where the daily digest of provisioning failures goes ("": none).
    pub digest_to: String,
}

impl From<&SmtpSettings> for SmtpView {
    fn from(s: &SmtpSettings) -> Self {
        SmtpView {
            configured: s.configured(),
            host: s.host.clone(),
            port: s.port,
            security: s.security,
            username: s.username.clone(),
            password_set: !s.password.is_empty(),
            from: s.from.clone(),
            allow_plain: s.allow_plain,
            digest_to: s.digest_to.clone(),
        }
    }
}

/// Changes to the settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct SmtpChanges {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    /// A new password; an empty one removes it.
    pub password: Option<Secret>,
    pub from: Option<String>,
    pub allow_plain: Option<bool>,
    /// The daily digest's address; "" for none.
    pub digest_to: Option<String>,
}

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

pub async fn get(conn: &mut Conn) -> Result<SmtpSettings, DirectoryError> {
    match mfa::setting(conn, KEY).await? {
        None => Ok(SmtpSettings::default()),
        Some(text) => serde_json::from_str(&text).map_err(|_| {
            invalid("the stored SMTP settings cannot be read; set them again with sesame smtp set")
        }),
    }
}

/// Whether mail can be sent, from the settings cache (the sign-in page asks on every view
/// whether to offer "Forgot password?"). A failure to read says no.
pub async fn ready(db: &Db) -> bool {
    match mfa::cached_setting(db, KEY).await {
        Ok(Some(text)) => serde_json::from_str::<SmtpSettings>(&text).is_ok_and(|s| s.configured()),
        _ => false,
    }
}

pub async fn load(db: &Db) -> Result<SmtpSettings, DirectoryError> {
    get(&mut *db.read().await?).await
}

/// Whether the host is this machine (where a plain connection never leaves it).
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check(s: &SmtpSettings) -> Result<(), DirectoryError> {
    let host_ok = s
        .host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !host_ok || s.host.len() > 253 {
        return Err(invalid(format!(
            "SMTP host {:?} must be a host name or an IP address",
            s.host
        )));
    }
    if s.port == 0 {
        return Err(invalid("the SMTP port must be from 1 to 65535"));
    }
    if !s.from.is_empty() {
        s.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| invalid(format!("sender {:?} is not an address like sesame@example.com (or \"Sesame <sesame@example.com>\")", s.from)))?;
    }
    if s.security == Security::None && !s.host.is_empty() && !is_loopback(&s.host) && !s.allow_plain
    {
        return Err(invalid(format!(
            "security none would send the password and every mail in clear to {}: use starttls or tls, or allow it explicitly (allow_plain, --allow-plain)",
            s.host
        )));
    }
    if s.username.is_empty() != s.password.is_empty() {
        return Err(invalid(
            "SMTP authentication needs both a username and a password (or neither)",
        ));
    }
    if s.username.len() > 256 {
        return Err(invalid("the SMTP username is too long"));
    }
    Ok(())
}

/// Applies `c`, checks the whole, stores it with an event, and returns it.
pub async fn update(
    db: &Db,
    key: &SealKey,
    actor: &Actor,
    c: &SmtpChanges,
) -> Result<SmtpSettings, DirectoryError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx).await?;
    let mut s = before.clone();
    if let Some(h) = &c.host {
        s.host = h.trim().to_string();
    }
    if let Some(p) = c.port {
        s.port = p;
    }
    if let Some(sec) = &c.security {
        s.security = Security::parse(sec.trim())
            .ok_or_else(|| invalid(format!("security {sec:?} must be starttls, tls or none")))?;
    }
    if let Some(u) = &c.username {
        s.username = u.trim().to_string();
        if s.username.is_empty() {
            s.password = String::new();
        }
    }
    if let Some(p) = &c.password {
        s.password = if p.is_empty() {
            String::new()
        } else {
            key.seal(p, SEAL_CONTEXT)
                .map_err(|e| invalid(e.to_string()))?
        };
    }
    if let Some(f) = &c.from {
        s.from = f.trim().to_string();
    }
    if let Some(a) = c.allow_plain {
        s.allow_plain = a;
    }
    if let Some(d) = &c.digest_to {
        s.digest_to = match d.trim() {
            "" => String::new(),
            a => super::check_address(a)?,
        };
    }
    check(&s)?;
    if s != before {
        let text = serde_json::to_string(&s).map_err(|e| invalid(e.to_string()))?;
        mfa::put_setting(&mut tx, KEY, &text).await?;
        audit(
            &mut tx,
            actor,
            "smtp_settings_update",
            None,
            None,
            json!({ "settings": describe(&s), "password_changed": s.password != before.password }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(s)
}

/// The settings as events and `sesame smtp show` print them.
pub fn describe(s: &SmtpSettings) -> Value {
    serde_json::to_value(SmtpView::from(s)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".into(),
            from: "Sesame <sesame@example.com>".into(),
            ..SmtpSettings::default()
        }
    }

    #[test]
    fn plain_smtp_only_to_loopback_or_when_allowed() {
        let mut s = ok();
        s.security = Security::None;
        assert!(check(&s).is_err());
        s.allow_plain = true;
        assert!(check(&s).is_ok());
        s.allow_plain = false;
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            s.host = h.into();
            assert!(check(&s).is_ok(), "{h}");
        }
        s.host = "10.0.0.1".into();
        assert!(check(&s).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut s = ok();
        s.host = "smtp example".into();
        assert!(check(&s).is_err());
        let mut s = ok();
        s.from = "not an address".into();
        assert!(check(&s).is_err());
        let mut s = ok();
        s.username = "u".into();
        assert!(check(&s).is_err(), "a username without a password");
        assert_eq!(Security::parse("starttls"), Some(Security::Starttls));
        assert_eq!(Security::parse("STARTTLS"), None);
    }

    #[test]
    fn the_view_never_holds_the_password() {
        let mut s = ok();
        s.username = "u".into();
        s.password = "v1:sealed".into();
        let v = describe(&s);
        assert_eq!(v["password_set"], true);
        assert!(!v.to_string().contains("sealed"));
    }
}
