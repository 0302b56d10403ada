//! The target's settings that are a choice among a few words: how it authenticates, what
//! deprovisioning does and whom it provisions. The words are the `scim_targets` columns' and the API's; the store
//! parses and formats them here.

use serde::Serialize;

/// How sesame authenticates to the target (`scim_targets.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// HTTP basic (Jive): `basic_user` and a password.
    Basic,
}

impl AuthKind {
    pub const ALL: [AuthKind; 2] = [AuthKind::Bearer, AuthKind::Basic];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Bearer => "bearer",
            AuthKind::Basic => "basic",
        }
    }

    pub fn parse(s: &str) -> Option<AuthKind> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to the account of a user who loses access or is deleted
/// (`scim_targets.deprovision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// `active: false` (RFC 7644 §3.5.2): the account stays, suspended.
    Deactivate,
    /// `DELETE` (RFC 7644 §3.6).
    Delete,
}

impl Deprovision {
    pub const ALL: [Deprovision; 2] = [Deprovision::Deactivate, Deprovision::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Deprovision::Deactivate => "deactivate",
            Deprovision::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Deprovision> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Deprovision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom the target provisions before the scoping filters (`scim_targets.scope`; Entra's
/// "sync only assigned users and groups" / "sync all users and groups"). Only provisioning:
/// SSO and the portal stay with the access rule whatever the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Those who may use the app (`directory::access`: bound groups and direct assignments).
    #[default]
    Assigned,
    /// Every active user, while the app is enabled.
    All,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Assigned, Scope::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Assigned => "assigned",
            Scope::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_kinds_parse_from_and_format_to_the_column_words() {
        for (k, w) in AuthKind::ALL.into_iter().zip(["bearer", "basic"]) {
            assert_eq!(k.as_str(), w);
            assert_eq!(k.to_string(), w);
            assert_eq!(AuthKind::parse(w), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), w);
        }
        for bad in ["", "Bearer", "oauth", "basic "] {
            assert_eq!(AuthKind::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deprovision_actions_parse_from_and_format_to_the_column_words() {
        for (d, w) in Deprovision::ALL.into_iter().zip(["deactivate", "delete"]) {
            assert_eq!(d.as_str(), w);
            assert_eq!(d.to_string(), w);
            assert_eq!(Deprovision::parse(w), Some(d));
            assert_eq!(serde_json::to_value(d).unwrap(), w);
        }
        for bad in ["", "shred", "Delete", "suspend"] {
            assert_eq!(Deprovision::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scopes_parse_from_and_format_to_the_column_words() {
        for (v, w) in Scope::ALL.into_iter().zip(["assigned", "all"]) {
            assert_eq!(v.as_str(), w);
            assert_eq!(Scope::parse(w), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), w);
        }
        assert_eq!(Scope::parse("everyone"), None);
        assert_eq!(Scope::default(), Scope::Assigned);
    }
}
