//! The file `sesame apply` reads and `sesame export` writes: TOML with `[[admin]]`,
//! `[[group]]` and `[[app]]` tables (an app with `[app.sso]` and `[app.scim]`). A key left
//! out leaves that setting as it is; unknown keys are errors, so a typo is never ignored.
//! Secrets are references (`{ env = "NAME" }` or `{ file = "PATH" }`), never inline.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DeclareError;
use crate::scim::secret::Secret;

#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    #[serde(default, rename = "admin", skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<AdminDecl>,
    #[serde(default, rename = "group", skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupDecl>,
    #[serde(default, rename = "app", skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppDecl>,
}

/// An administrator: created when missing (with the password, if one is referenced),
/// made an admin when not one, the profile fields given kept as written.
#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminDecl {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Only used when the account is created (passwords are stored hashed: there is
    /// nothing to compare later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupDecl {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When given, exactly these usernames are members; when left out, members are
    /// managed elsewhere (the console, the API, SCIM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppDecl {
    pub slug: String,
    /// The catalog template (only at creation; default `generic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_in_portal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_enabled: Option<bool>,
    /// When given, exactly these groups are bound to the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// When given, exactly these users are assigned to the app directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoDecl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimDecl>,
}

/// The SAML settings, as in the console's SSO tab (`saml::settings::SsoChanges`).
/// Certificates are public: PEM text inline (a TOML multi-line string).
#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SsoDecl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs_indexes: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameid_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameid_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_response: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_signed_requests: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_sha1: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_mfa: Option<bool>,
    /// `NAME=SOURCE` items; an empty list means the default mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_response_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_binding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_certs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_encryption_cert: Option<String>,
}

/// Identity Management (`scim::target::Changes`): a bearer `token`, or `basic_user` with
/// `password`, both as references.
#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScimDecl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprovision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_groups: Option<bool>,
    /// A password a user sets in sesame is sent to the target once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_sync: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_threshold: Option<i64>,
    /// When given, exactly these optional attributes are left out of what is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Where failure and recovery notifications go ("" for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_email: Option<String>,
    /// Whom it provisions: `assigned` or `all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Scoping filters, one clause a string (`"group 1: title equals Engineer"`); when
    /// given, exactly these (`[]`: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<String>>,
    /// Matching precedence (`["userName", "externalId"]`).
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<Vec<String>>,
    /// Attribute mappings, `"path = expression"` each (`" [create]"` at the end: on create
    /// only); when given, exactly these (`[]`: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mappings: Option<Vec<String>>,
    /// Provisioning runs (`true`: activated when inactive) or not (`false`: deactivated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// Where a secret is: an environment variable, or a file (relative paths from the
/// declaration file's directory; one trailing newline is dropped).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "RawSecret")]
pub enum SecretRef {
    #[serde(rename = "env")]
    Env(String),
    #[serde(rename = "file")]
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSecret {
    /// Only recognized, to be refused with the reason.
    #[allow(dead_code)]
    Inline(String),
    Ref {
        env: Option<String>,
        file: Option<PathBuf>,
    },
}

impl TryFrom<RawSecret> for SecretRef {
    type Error = String;
    fn try_from(raw: RawSecret) -> Result<Self, String> {
        match raw {
            RawSecret::Inline(_) => Err(
                "a secret is never written inline: use { env = \"NAME\" } or { file = \"PATH\" }"
                    .into(),
            ),
            RawSecret::Ref {
                env: Some(e),
                file: None,
            } => Ok(SecretRef::Env(e)),
            RawSecret::Ref {
                env: None,
                file: Some(f),
            } => Ok(SecretRef::File(f)),
            RawSecret::Ref { .. } => {
                Err("a secret reference has exactly one of env or file".into())
            }
        }
    }
}

impl SecretRef {
    /// Reads the secret; `dir` is the declaration file's directory.
    pub fn resolve(&self, dir: &Path) -> Result<Secret, DeclareError> {
        let value = match self {
            SecretRef::Env(name) => std::env::var(name).map_err(|_| {
                DeclareError::File(format!(
                    "the environment variable {name} (a secret the file refers to) is not set"
                ))
            })?,
            SecretRef::File(path) => {
                let path = dir.join(path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    DeclareError::File(format!(
                        "cannot read the secret file {}: {e}",
                        path.display()
                    ))
                })?;
                text.strip_suffix('\n').unwrap_or(&text).to_string()
            }
        };
        if value.is_empty() {
            return Err(DeclareError::File(format!("{} is empty", self.describe())));
        }
        Ok(Secret::new(value))
    }

    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(name) => format!("the environment variable {name}"),
            SecretRef::File(p) => format!("the file {}", p.display()),
        }
    }
}

impl Declaration {
    /// Parses the file; the error names the line and the key.
    pub fn parse(text: &str) -> Result<Declaration, DeclareError> {
        let d: Declaration = toml::from_str(text).map_err(|e| DeclareError::File(e.to_string()))?;
        d.check_unique()?;
        Ok(d)
    }

    /// Whether any secret is referenced (the API refuses those: it must not read the
    /// server's environment or files on a caller's behalf).
    pub fn refers_to_secrets(&self) -> bool {
        self.admins.iter().any(|a| a.password.is_some())
            || self
                .apps
                .iter()
                .filter_map(|a| a.scim.as_ref())
                .any(|s| s.token.is_some() || s.password.is_some())
    }

    fn check_unique(&self) -> Result<(), DeclareError> {
        fn once<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<(), DeclareError> {
            let mut seen = std::collections::HashSet::new();
            for n in names {
                if !seen.insert(n.to_lowercase()) {
                    return Err(DeclareError::File(format!(
                        "{what} {n:?} is declared twice"
                    )));
                }
            }
            Ok(())
        }
        once("admin", self.admins.iter().map(|a| a.username.as_str()))?;
        once("group", self.groups.iter().map(|g| g.name.as_str()))?;
        once("app", self.apps.iter().map(|a| a.slug.as_str()))
    }

    /// The TOML text `sesame export` writes.
    pub fn to_toml(&self) -> Result<String, DeclareError> {
        toml::to_string(self).map_err(|e| DeclareError::File(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_and_unknown_keys_are_refused_with_the_reason() {
        let inline = "[[app]]\nslug = \"a\"\n[app.scim]\ntoken = \"hunter2\"\n";
        let e = Declaration::parse(inline).unwrap_err().to_string();
        assert!(e.contains("never written inline"), "{e}");
        let typo = "[[app]]\nslug = \"a\"\nlabl = \"A\"\n";
        let e = Declaration::parse(typo).unwrap_err().to_string();
        assert!(e.contains("labl"), "{e}");
        let twice = "[[group]]\nname = \"Eng\"\n[[group]]\nname = \"eng\"\n";
        let e = Declaration::parse(twice).unwrap_err().to_string();
        assert!(e.contains("declared twice"), "{e}");
        let both = "[[admin]]\nusername = \"a\"\npassword = { env = \"X\", file = \"y\" }\n";
        assert!(Declaration::parse(both).is_err());
    }

    #[test]
    fn references_resolve_from_the_environment_or_a_file_beside_the_declaration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let f = SecretRef::File("tok".into());
        assert_eq!(f.resolve(dir.path()).unwrap().expose(), "s3cret");
        let missing = SecretRef::Env("SESAME_DECLARE_TEST_UNSET_VARIABLE".into());
        let e = missing.resolve(dir.path()).unwrap_err().to_string();
        assert!(e.contains("SESAME_DECLARE_TEST_UNSET_VARIABLE"), "{e}");
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let d = Declaration::parse(
            "[[group]]\nname = \"eng\"\nmembers = [\"alice\"]\n\n[[app]]\nslug = \"wiki\"\n\
             groups = [\"eng\"]\n[app.sso]\nacs_urls = [\"https://sp/acs\"]\n\
             [app.scim]\nurl = \"https://sp/scim\"\ntoken = { env = \"T\" }\n",
        )
        .unwrap();
        assert_eq!(Declaration::parse(&d.to_toml().unwrap()).unwrap(), d);
    }
}
