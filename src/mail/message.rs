//! The mails sesame sends, as data (what the outbox stores) and as text (subject and body,
//! rendered when sent). A link that signs someone in (reset, invitation) is stored sealed,
//! so the outbox never holds one in clear.

use serde::{Deserialize, Serialize};
use url::Url;

use super::MailError;
use crate::scim::secret::{SealKey, Secret};

const LINK_CONTEXT: &str = "mail-link";

/// One mail, before rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// "Send test mail" from the console, the API or the CLI.
    Test { requested_by: String },
    /// A SCIM target stopped, was quarantined or paused, or runs again.
    TargetState {
        app_slug: String,
        app_name: String,
        state: String,
        /// The state it left (for a recovery: stopped, quarantined or paused).
        from: String,
        reason: String,
    },
    /// A password-reset link (sealed).
    Reset {
        username: String,
        link: String,
        minutes: i64,
    },
    /// An invitation to set a first password (sealed link).
    Invite {
        username: String,
        link: String,
        days: i64,
    },
    /// The daily summary of provisioning failures since `since` (unix ms).
    Digest {
        since: i64,
        apps: Vec<super::digest::AppFailures>,
    },
}

/// A rendered mail.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mail {
    /// The word the outbox and the events know the mail by.
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::Test { .. } => "test",
            Mail::TargetState { .. } => "target_state",
            Mail::Reset { .. } => "password_reset",
            Mail::Invite { .. } => "invitation",
            Mail::Digest { .. } => "digest",
        }
    }

    /// Seals a link for a `Reset` or `Invite` mail.
    pub fn seal_link(key: &SealKey, link: &str) -> Result<String, MailError> {
        key.seal(&Secret::new(link), LINK_CONTEXT)
            .map_err(|e| MailError::Invalid(e.to_string()))
    }

    /// Subject and body for `to`; `base_url` for the console links.
    pub fn render(&self, key: &SealKey, base_url: &Url, to: &str) -> Result<Outgoing, MailError> {
        let open = |sealed: &str| {
            key.open(sealed, LINK_CONTEXT)
                .map(|s| s.expose().to_string())
                .map_err(|_| MailError::Sealed)
        };
        let (subject, body) = match self {
            Mail::Test { requested_by } => (
                "sesame: test mail".to_string(),
                format!(
                    "This is a test mail from sesame at {base_url}, asked for by {requested_by}.\n\n\
                     If you can read it, sesame can send notifications, password-reset links and invitations.\n"
                ),
            ),
            Mail::TargetState {
                app_slug,
                app_name,
                state,
                from,
                reason,
            } => {
                let link = console_link(base_url, app_slug);
                if state == "active" {
                    (
                        format!("sesame: provisioning to {app_name} runs again"),
                        format!(
                            "Provisioning (SCIM) to the application {app_name} ({app_slug}) runs again: it was {from} and is active now.\n\n\
                             Console: {link}\n"
                        ),
                    )
                } else {
                    let what = match state.as_str() {
                        "stopped" => "stopped: the target refused sesame's credentials (401/403)",
                        "quarantined" => "quarantined after repeated failed requests",
                        "paused" => "paused by the deletion threshold: a deprovisioning batch waits for an admin's approval",
                        _ => "changed state",
                    };
                    (
                        format!("sesame: provisioning to {app_name} is {state}"),
                        format!(
                            "Provisioning (SCIM) to the application {app_name} ({app_slug}) is {what}.\n\n\
                             Reason: {reason}\n\n\
                             Directory changes are queued and nothing is lost; once the cause is fixed, resume it (or approve or reject the batch) in the console:\n{link}\n\n\
                             You get one mail when the state changes and one when it runs again, not one per failed request.\n"
                        ),
                    )
                }
            }
            Mail::Reset {
                username,
                link,
                minutes,
            } => (
                "sesame: reset your password".to_string(),
                format!(
                    "Someone (hopefully you) asked to reset the password of the account {username} at {base_url}.\n\n\
                     To choose a new password, open this link within {minutes} minutes. It works once:\n\n{}\n\n\
                     If you did not ask for this, ignore this mail: your password stays as it is.\n",
                    open(link)?
                ),
            ),
            Mail::Invite {
                username,
                link,
                days,
            } => (
                "sesame: your new account".to_string(),
                format!(
                    "An account {username} was created for you at {base_url}.\n\n\
                     To choose your password, open this link within {days} days. It works once:\n\n{}\n\n\
                     Then sign in at {base_url} with the username {username}.\n",
                    open(link)?
                ),
            ),
            Mail::Digest { since, apps } => {
                let total: i64 = apps.iter().map(|a| a.failures).sum();
                let mut body = format!(
                    "Provisioning (SCIM) requests that failed since {} UTC: {total}.\n\n",
                    crate::store::when(*since)
                );
                for a in apps {
                    body.push_str(&format!(
                        "{}: {} failed request(s); the last: {}\n  {}\n\n",
                        a.app_slug,
                        a.failures,
                        a.last_error,
                        console_link(base_url, &a.app_slug)
                    ));
                }
                body.push_str("This digest comes once a day, and only when something failed.\n");
                (
                    format!("sesame: {total} failed provisioning request(s) in the last day"),
                    body,
                )
            }
        };
        Ok(Outgoing {
            to: to.to_string(),
            subject,
            body,
        })
    }
}

fn console_link(base_url: &Url, slug: &str) -> String {
    base_url
        .join(&format!("admin/apps/{slug}/idm"))
        .map_or_else(|_| base_url.to_string(), |u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_sealed_in_the_payload_and_opened_when_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let key = SealKey::load(&Secret::default(), dir.path()).unwrap();
        let link = "https://idp.example/reset/abcdef";
        let mail = Mail::Reset {
            username: "alice".into(),
            link: Mail::seal_link(&key, link).unwrap(),
            minutes: 30,
        };
        let stored = serde_json::to_string(&mail).unwrap();
        assert!(!stored.contains("abcdef"), "{stored}");
        let base = Url::parse("https://idp.example/").unwrap();
        let out = mail.render(&key, &base, "alice@example.com").unwrap();
        assert!(out.body.contains(link));
    }

    #[test]
    fn a_state_mail_names_the_app_the_state_the_reason_and_the_console() {
        let dir = tempfile::tempdir().unwrap();
        let key = SealKey::load(&Secret::default(), dir.path()).unwrap();
        let base = Url::parse("https://idp.example/sso/").unwrap();
        let mail = Mail::TargetState {
            app_slug: "crm".into(),
            app_name: "The CRM".into(),
            state: "stopped".into(),
            from: "active".into(),
            reason: "HTTP 401".into(),
        };
        let out = mail.render(&key, &base, "ops@example.com").unwrap();
        assert!(out.subject.contains("The CRM") && out.subject.contains("stopped"));
        assert!(out.body.contains("HTTP 401"));
        assert!(out
            .body
            .contains("https://idp.example/sso/admin/apps/crm/idm"));
    }
}
