//! E-mail (issue 15 §2): the SMTP settings an admin keeps in the database (`settings`), the
//! mails sesame sends (`message`: failure notifications, password-reset and invitation
//! links, test mails) and how they leave: written to the `mail_outbox` table (`outbox`),
//! in the transaction of whatever they tell about, and sent by the server's mail worker
//! with retries (`smtp`); `digest`: the daily summary of provisioning failures. A mail that cannot be sent is an event, never an error of the
//! request or the job that caused it.

pub mod digest;
pub mod message;
pub mod outbox;
pub mod settings;
pub mod smtp;

pub use message::Mail;
pub use settings::{Security, SmtpChanges, SmtpSettings};

/// Why a mail could not be sent (shown to admins, recorded in events).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP is not configured: set it up under Settings › E-mail or with `sesame smtp set`")]
    NotConfigured,
    #[error("{0}")]
    Invalid(String),
    #[error("the SMTP server did not answer within {0} seconds")]
    Timeout(u64),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("the stored SMTP password cannot be decrypted (wrong secret_key?)")]
    Sealed,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<sqlx::Error> for MailError {
    fn from(e: sqlx::Error) -> Self {
        MailError::Store(e.into())
    }
}

/// An address as it may appear in events and logs: the first character and the domain.
pub fn masked(addr: &str) -> String {
    match addr.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

/// Checks one mailbox address (`user@example.com`), as a form or the API gives it.
pub fn check_address(addr: &str) -> Result<String, crate::directory::DirectoryError> {
    let a = addr.trim();
    a.parse::<lettre::Address>()
        .map(|_| a.to_string())
        .map_err(|_| {
            crate::directory::DirectoryError::Invalid(format!(
                "{a:?} is not an e-mail address like ops@example.com"
            ))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked_and_checked() {
        assert_eq!(super::masked("alice@example.com"), "a…@example.com");
        assert_eq!(super::masked("nope"), "…");
        assert!(super::check_address(" ops@example.com ").is_ok());
        for bad in ["", "ops", "a b@example.com", "ops@", "<ops@example.com>"] {
            assert!(super::check_address(bad).is_err(), "{bad:?}");
        }
    }
}
