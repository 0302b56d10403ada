//! Authentication context (SAML Core §3.3.2.2.1 `RequestedAuthnContext`, §2.7.2.2
//! `AuthnContext`; SAML Authentication Context classes): what an assertion says about how the
//! user signed in, and whether a session can satisfy what an SP asked for.
//!
//! sesame knows two strengths. A password session is `PasswordProtectedTransport` (it also
//! satisfies `Password` and `unspecified`). A session with a second factor is
//! `https://refeds.org/profile/mfa` (the REFEDS MFA profile that Shibboleth and SimpleSAMLphp
//! SPs check); it also satisfies Microsoft Entra ID's `http://schemas.microsoft.com/claims/multipleauthn`
//! and the SAML classes `TimeSyncToken`, `MobileTwoFactorContract` and
//! `MobileTwoFactorUnregistered`, and when an SP asks for one of those by name, the
//! assertion names it back. Any other class (Kerberos, smartcards...) cannot be satisfied.

use serde::{Deserialize, Serialize};

pub const PASSWORD_PROTECTED: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
pub const REFEDS_MFA: &str = "https://refeds.org/profile/mfa";

const PASSWORD_CLASSES: [&str; 3] = [
    PASSWORD_PROTECTED,
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
];
const MFA_CLASSES: [&str; 5] = [
    REFEDS_MFA,
    "http://schemas.microsoft.com/claims/multipleauthn",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
];

/// How strongly a session authenticated, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Password,
    MultiFactor,
}

fn level(class: &str) -> Option<Level> {
    if PASSWORD_CLASSES.contains(&class) {
        Some(Level::Password)
    } else if MFA_CLASSES.contains(&class) {
        Some(Level::MultiFactor)
    } else {
        None
    }
}

/// `Comparison` (default `exact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Exact,
    Minimum,
    Better,
    Maximum,
}

impl Comparison {
    pub fn parse(v: Option<&str>) -> Option<Comparison> {
        match v {
            None | Some("exact") => Some(Comparison::Exact),
            Some("minimum") => Some(Comparison::Minimum),
            Some("better") => Some(Comparison::Better),
            Some("maximum") => Some(Comparison::Maximum),
            Some(_) => None,
        }
    }
}

/// An SP's `RequestedAuthnContext` (class references only; a `AuthnContextDeclRef` is a
/// class we do not know).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    pub comparison: Comparison,
    pub classes: Vec<String>,
}

/// What a request needs of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any session will do.
    Any,
    /// A second factor.
    MultiFactor,
    /// Nothing sesame does satisfies it: answer `NoAuthnContext`.
    Impossible,
}

impl Requested {
    fn known(&self) -> impl Iterator<Item = Level> + '_ {
        self.classes.iter().filter_map(|c| level(c))
    }

    /// The weakest level that satisfies the request.
    pub fn need(&self) -> Need {
        let weakest = self.known().min();
        match (self.comparison, weakest) {
            (_, None) => Need::Impossible,
            (Comparison::Exact | Comparison::Minimum, Some(Level::Password)) => Need::Any,
            (Comparison::Exact | Comparison::Minimum, Some(Level::MultiFactor)) => {
                Need::MultiFactor
            }
            (Comparison::Better, Some(Level::Password)) => Need::MultiFactor,
            (Comparison::Better, Some(Level::MultiFactor)) => Need::Impossible,
            // As strong as possible without exceeding one of them: a password session always
            // qualifies (a multi-factor session also used a password).
            (Comparison::Maximum, Some(_)) => Need::Any,
        }
    }

    /// The class the assertion states for a session of `have`, chosen among the requested
    /// ones where the comparison is `exact` or `maximum`.
    fn class_for(&self, have: Level) -> Option<&str> {
        let named = |want: Level| {
            self.classes
                .iter()
                .find(|c| level(c) == Some(want))
                .map(String::as_str)
        };
        match self.comparison {
            Comparison::Exact => named(have).or_else(|| named(Level::Password)),
            Comparison::Maximum => {
                let cap = self.known().max()?;
                named(have.min(cap))
            }
            Comparison::Minimum | Comparison::Better => None,
        }
    }
}

/// The `AuthnContextClassRef` for a session of `have`, given what the SP requested.
pub fn class_ref(requested: Option<&Requested>, have: Level) -> String {
    if let Some(c) = requested.and_then(|r| r.class_for(have)) {
        return c.to_string();
    }
    match have {
        Level::Password => PASSWORD_PROTECTED.to_string(),
        Level::MultiFactor => REFEDS_MFA.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(comparison: Comparison, classes: &[&str]) -> Requested {
        Requested {
            comparison,
            classes: classes.iter().map(|c| c.to_string()).collect(),
        }
    }

    const MS: &str = "http://schemas.microsoft.com/claims/multipleauthn";
    const KERBEROS: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos";

    #[test]
    fn what_each_comparison_needs() {
        use Comparison::*;
        assert_eq!(req(Exact, &[PASSWORD_PROTECTED]).need(), Need::Any);
        assert_eq!(req(Exact, &[REFEDS_MFA]).need(), Need::MultiFactor);
        assert_eq!(req(Exact, &[MS, PASSWORD_PROTECTED]).need(), Need::Any);
        assert_eq!(req(Exact, &[KERBEROS]).need(), Need::Impossible);
        assert_eq!(req(Minimum, &[MS]).need(), Need::MultiFactor);
        assert_eq!(req(Better, &[PASSWORD_PROTECTED]).need(), Need::MultiFactor);
        assert_eq!(req(Better, &[REFEDS_MFA]).need(), Need::Impossible);
        assert_eq!(req(Maximum, &[REFEDS_MFA]).need(), Need::Any);
        assert_eq!(req(Exact, &[]).need(), Need::Impossible);
    }

    #[test]
    fn the_class_stated_names_what_was_asked_for() {
        use Comparison::*;
        let mfa = Level::MultiFactor;
        let pwd = Level::Password;
        assert_eq!(class_ref(None, pwd), PASSWORD_PROTECTED);
        assert_eq!(class_ref(None, mfa), REFEDS_MFA);
        assert_eq!(class_ref(Some(&req(Exact, &[MS])), mfa), MS);
        let either = req(Exact, &[PASSWORD_PROTECTED, MS]);
        assert_eq!(class_ref(Some(&either), mfa), MS);
        assert_eq!(class_ref(Some(&either), pwd), PASSWORD_PROTECTED);
        // Only a password class asked for: a multi-factor session also used a password.
        let pw = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
        assert_eq!(class_ref(Some(&req(Exact, &[pw])), mfa), pw);
        assert_eq!(class_ref(Some(&req(Minimum, &[pw])), mfa), REFEDS_MFA);
        assert_eq!(
            class_ref(Some(&req(Maximum, &[PASSWORD_PROTECTED])), mfa),
            PASSWORD_PROTECTED
        );
    }
}
