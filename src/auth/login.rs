//! The password check behind `/login`: throttling first, then argon2 against the stored or
//! the dummy hash, then the account status. Every attempt is an event; the answer to the
//! person is one of three outcomes and never says which part was wrong.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::password::{self, Password};
use super::throttle::{self, ThrottlePolicy};
use crate::directory::{DirectoryError, User};
use crate::store::events::{self, NewEvent};
use crate::store::{users, Db};
use crate::telemetry::{self, LoginOutcome as Counted};

#[derive(Debug)]
pub enum LoginOutcome {
    Success(Box<User>),
    /// Wrong username or password, or a suspended account: one answer for all.
    Refused,
    Locked(Duration),
}

pub async fn check(
    db: &Db,
    policy: &ThrottlePolicy,
    username: &str,
    password: &Password,
    ip: IpAddr,
) -> Result<LoginOutcome, DirectoryError> {
    let (account, address) = (throttle::account_key(username), throttle::address_key(ip));
    if let Some(left) = throttle::locked_for(db, &[&account, &address]).await? {
        // Attempts on a locked account are recorded under the account, when it exists, so
        // that an admin looking at the user sees them (not for unknown names).
        let known = if username.len() <= 256 {
            let mut conn = db.read().await?;
            users::credentials(&mut conn, &username.to_ascii_lowercase())
                .await?
                .map(|(u, _)| u.username)
        } else {
            None
        };
        record(
            db,
            "login_failure",
            known.as_deref(),
            json!({ "reason": "locked", "ip": ip.to_string() }),
        )
        .await?;
        telemetry::login(Counted::Locked);
        return Ok(LoginOutcome::Locked(left));
    }
    let found = if username.len() <= 256 {
        let mut conn = db.read().await?;
        users::credentials(&mut conn, &username.to_ascii_lowercase()).await?
    } else {
        None
    };
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, None),
    };
    let verified = password::verify(password, hash).await;
    match user {
        Some(u) if verified && u.active => {
            // With a second factor, the count of failures goes on until that is passed too:
            // a right password must not reset the guesses at the code; and the sign-in is
            // not done yet (`mfa_success` ends it).
            let second = super::mfa::factors(db, u.id).await?.any();
            if !second {
                throttle::clear(db, &account).await?;
            }
            record(
                db,
                if second {
                    "login_password_ok"
                } else {
                    "login_success"
                },
                Some(&u.username),
                json!({ "ip": ip.to_string() }),
            )
            .await?;
            telemetry::login(if second {
                Counted::SecondFactor
            } else {
                Counted::Success
            });
            Ok(LoginOutcome::Success(Box::new(u)))
        }
        _ => {
            let reason = match &user {
                Some(u) if verified && !u.active => "suspended",
                Some(_) => "bad_password",
                None => "unknown_user",
            };
            let locked = throttle::record_failure(db, policy, &account, policy.max_failures)
                .await?
                | throttle::record_failure(db, policy, &address, policy.ip_max_failures).await?;
            let name = user.as_ref().map(|u| u.username.as_str());
            record(
                db,
                "login_failure",
                name,
                json!({ "reason": reason, "ip": ip.to_string() }),
            )
            .await?;
            if locked {
                record(db, "login_lockout", name, json!({ "ip": ip.to_string() })).await?;
                telemetry::lockout(telemetry::LockStep::Password);
                telemetry::login(Counted::Locked);
                return Ok(LoginOutcome::Locked(policy.lockout));
            }
            telemetry::login(Counted::Refused);
            Ok(LoginOutcome::Refused)
        }
    }
}

async fn record(
    db: &Db,
    name: &'static str,
    username: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), DirectoryError> {
    let mut conn = db.write().await?;
    let event = NewEvent {
        name,
        actor: username.map_or_else(|| "anonymous".to_string(), |u| format!("user:{u}")),
        username: username.map(str::to_string),
        outcome: if name == "login_success" || name == "login_password_ok" {
            "success"
        } else {
            "failure"
        },
        detail,
        ..NewEvent::default()
    };
    events::insert(&mut conn, &event).await?;
    Ok(())
}
