//! Authentication: password hashing, login throttling, CSRF tokens and the portal session.

pub mod csrf;
pub mod invite;
pub mod login;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod reset;
pub mod session;
pub mod throttle;
pub mod tokens;
pub mod totp;
