//! Inbound SCIM: sesame as a SCIM 2.0 service provider (RFC 7643, RFC 7644) at `/scim/v2`,
//! so that an HR system or another IdP provisions users and groups into sesame, and the
//! outbound bridge pushes them on to the apps. The protocol lives here, free of web types:
//! `filter` and `patch` parse and apply RFC 7644 expressions to a resource's JSON, `users`
//! and `groups` map resources to the directory and call its operations (ownership is the
//! directory's rule, `directory::owner`), `discovery` describes what is served, `sources`
//! holds the bearer tokens. The handlers are `web::scim_server`.

pub mod discovery;
pub mod filter;
pub mod groups;
pub mod json;
pub mod list;
pub mod patch;
pub mod sources;
pub mod users;

use serde_json::{json, Value};

use crate::directory::DirectoryError;
use crate::store::StoreError;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An answer of RFC 7644 §3.12: the HTTP status, the `scimType` when one applies, and a
/// detail for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad("invalidFilter", detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// The error body (RFC 7644 §3.12); `status` is a string there.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            v["scimType"] = json!(t);
        }
        v
    }
}

impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m) => ScimError::invalid_value(m),
            DirectoryError::Duplicate(m) => ScimError::new(409, Some("uniqueness"), m),
            DirectoryError::NotFound(m) => ScimError::not_found(m),
            // RFC 7644 §3.12: "not compatible with ... its current state".
            DirectoryError::Managed(m) => ScimError::new(409, Some("mutability"), m),
            DirectoryError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        if e.is_busy() {
            ScimError::new(503, None, "the database is busy: try again shortly")
        } else {
            tracing::error!(cause = %e, "inbound SCIM request failed");
            ScimError::new(500, None, "internal error (see the server log)")
        }
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// The source calling, as the bearer token identified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: i64,
    pub name: String,
}

impl Source {
    pub fn actor(&self) -> crate::directory::Actor {
        crate::directory::Actor::scim(&self.name)
    }
}
