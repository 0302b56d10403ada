//! Sending one mail over SMTP with lettre: STARTTLS (RFC 3207) or implicit TLS (RFC 8314)
//! through native-tls (OpenSSL), certificates verified; plain only where the settings allow
//! it. Every send is bounded in time.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::Outgoing;
use super::settings::{Security, SmtpSettings};
use super::MailError;
use crate::scim::secret::SealKey;

/// The longest a whole send (connect, TLS, auth, data) may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The EHLO argument: a domain, or an address literal for an IP (RFC 5321 §4.1.3).
fn client_id(hello: &str) -> ClientId {
    match hello.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(std::net::IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(std::net::IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) => ClientId::Domain(hello.to_string()),
    }
}

fn smtp_err(e: impl std::fmt::Display) -> MailError {
    MailError::Smtp(e.to_string())
}

/// Sends `m` with the settings `s`; `hello` is the name sesame gives in EHLO (its host).
pub async fn send(
    s: &SmtpSettings,
    key: &SealKey,
    hello: &str,
    m: &Outgoing,
) -> Result<(), MailError> {
    if !s.configured() {
        return Err(MailError::NotConfigured);
    }
    let from: Mailbox = s
        .from
        .parse()
        .map_err(|_| MailError::Invalid(format!("sender {:?} is not an address", s.from)))?;
    let to: Mailbox =
        m.to.parse()
            .map_err(|_| MailError::Invalid("the recipient is not an address".into()))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(smtp_err)?;
    let tls = || TlsParameters::new(s.host.clone()).map_err(smtp_err);
    let security = match s.security {
        Security::Starttls => Tls::Required(tls()?),
        Security::Tls => Tls::Wrapper(tls()?),
        Security::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(security)
        .hello_name(client_id(hello))
        .timeout(Some(SEND_TIMEOUT));
    if !s.username.is_empty() {
        let password = s.password(key)?;
        builder = builder.credentials(Credentials::new(
            s.username.clone(),
            password.expose().to_string(),
        ));
    }
    let transport = builder.build();
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(smtp_err(e)),
        Err(_) => Err(MailError::Timeout(SEND_TIMEOUT.as_secs())),
    }
}
