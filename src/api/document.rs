//! The OpenAPI 3.1 document of `/api/v1`, generated from the code once, when the router is
//! built. Each operation is its handler's `#[utoipa::path]`, which the route table
//! (`routes::endpoints`) carries beside the handler it routes; each schema is the type the
//! handler reads or writes. What the operations share is here: the API's description, the
//! two ways to authenticate, the error answers and the path parameters.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type,
};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::routes;

/// The API's description, its servers, security and tags; the operations are added from
/// the route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sesame admin API",
        version = "1",
        description = "Everything the admin console does, for scripts. Every operation except \
this document needs an admin: send an admin token (`sesame admin-token create <name> --user \
<admin>`) as `Authorization: Bearer <token>`. A token acts as its owner and is recorded as \
`admin:<owner> (token <name>)`; it stops working (401) when revoked or its owner is suspended \
or deleted, and gets 403 while its owner is not an admin. An admin's portal session cookie \
(`sesame_session`) works too; changes made with it must come from sesame's own pages (a \
cross-site request is refused with 403).\n\nBodies are JSON (`Content-Type: \
application/json`); unknown fields are refused. A refused request changes nothing and writes \
no event. Errors are `{\"error\": {\"code\": ..., \"message\": ...}}` with a stable code (see \
the Error schema). Times are milliseconds since the Unix epoch.",
    ),
    servers((url = "/", description = "The sesame server (its base URL).")),
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    tags(
        (name = "apps"),
        (name = "sso"),
        (name = "scim"),
        (name = "users"),
        (name = "groups"),
        (name = "events"),
        (name = "keys"),
        (name = "meta"),
        (name = "settings", description = "Global settings: the MFA policy, the SMTP server; configuration as code (export, plan, apply)."),
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
)]
struct Api;

/// The document, built from the code on first use (`routes::router` makes that the start).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| build().to_json().unwrap_or_default())
}

fn build() -> utoipa::openapi::OpenApi {
    let mut doc = Api::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for e in routes::endpoints() {
        let (paths, schemas) = e.document();
        doc.paths.merge(paths);
        // A name is one type: a test below holds every use of a name to one schema.
        components.schemas.extend(schemas);
    }
    doc
}

/// This document
#[utoipa::path(
    get, path = "/api/v1/openapi.json", operation_id = "openapi", tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI document.", body = serde_json::Value),
    ),
)]
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

/// An error answer's body.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: unauthorized (401, no or bad credentials), forbidden (403, not an admin or a
    /// cross-site change), not_found (404), invalid (400, a value breaks a rule; the message
    /// names the field), conflict (409, the name is taken), managed (409, an inbound SCIM
    /// source owns the user or group: change it there), bad_request (400/413/415/422: not
    /// JSON, malformed, unknown field, wrong type), method_not_allowed (405), target_error
    /// (502, the SCIM target failed or could not be reached), unavailable (503, the database
    /// is busy: try again after Retry-After), internal (500, details only in the server log).
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// For people; may change.
    pub message: String,
}

/// The codes of `error.code`. `ApiError` keeps its code as text (pages outside the API
/// answer in its form too), so this enum is the document's list, held to the conversions
/// by a test below.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: only the document reads it")]
#[schema(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    Managed,
    BadRequest,
    MethodNotAllowed,
    TargetError,
    Unavailable,
    Internal,
}

/// An error answer, as `components/responses` lists it.
struct Answer {
    status: u16,
    name: &'static str,
    description: &'static str,
}

const BAD_REQUEST: Answer = Answer {
    status: 400,
    name: "BadRequest",
    description: "invalid: a value breaks a rule (the message says which); bad_request: \
        malformed JSON or query. Nothing was changed.",
};
const UNAUTHORIZED: Answer = Answer {
    status: 401,
    name: "Unauthorized",
    description: "unauthorized: no credentials, an unknown or revoked token, or its owner is \
        suspended or deleted.",
};
const FORBIDDEN: Answer = Answer {
    status: 403,
    name: "Forbidden",
    description: "forbidden: the token's owner or the session's user is not an admin (or must \
        change their password first), or a session-cookie change came from another site.",
};
const NOT_FOUND: Answer = Answer {
    status: 404,
    name: "NotFound",
    description: "not_found: no such app, user, group, integration or endpoint.",
};
const CONFLICT: Answer = Answer {
    status: 409,
    name: "Conflict",
    description: "conflict: the name is already taken, or the keys are not in a state that \
        allows it; managed: an inbound SCIM source owns the user or group (change it there). \
        Nothing was changed.",
};
const PAYLOAD_TOO_LARGE: Answer = Answer {
    status: 413,
    name: "PayloadTooLarge",
    description: "bad_request: the body is over 256 KiB.",
};
const UNSUPPORTED_MEDIA_TYPE: Answer = Answer {
    status: 415,
    name: "UnsupportedMediaType",
    description: "bad_request: the body is not sent as Content-Type: application/json.",
};
const UNPROCESSABLE: Answer = Answer {
    status: 422,
    name: "Unprocessable",
    description: "bad_request: an unknown field, a missing required field or a wrong type. \
        Nothing was changed.",
};
const TARGET_ERROR: Answer = Answer {
    status: 502,
    name: "TargetError",
    description: "target_error: the SCIM target answered with an error or could not be \
        reached.",
};
const INTERNAL: Answer = Answer {
    status: 500,
    name: "Internal",
    description: "internal: see the server log.",
};
const UNAVAILABLE: Answer = Answer {
    status: 503,
    name: "Unavailable",
    description: "unavailable: the database did not answer in time; try again after the \
        Retry-After seconds. Nothing was changed.",
};

const ANSWERS: [&Answer; 11] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &CONFLICT,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &UNPROCESSABLE,
    &TARGET_ERROR,
    &INTERNAL,
    &UNAVAILABLE,
];

/// Error answers a handler lists in its `responses(...)`, each a `$ref` to the one
/// description above.
macro_rules! answers {
    ($($(#[$doc:meta])* $name:ident = [$($answer:ident),+];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                [$(&$answer),+]
                    .into_iter()
                    .map(|a| (a.status.to_string(), Ref::from_response_name(a.name).into()))
                    .collect()
            }
        }
    )+};
}

answers! {
    /// What any admin operation may answer: 401, 403, 500, 503.
    Refusals = [UNAUTHORIZED, FORBIDDEN, INTERNAL, UNAVAILABLE];
    /// A JSON body refused: 400, 413, 415, 422.
    BodyRefusals = [BAD_REQUEST, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, UNPROCESSABLE];
    /// 400: a value breaks a rule.
    Invalid = [BAD_REQUEST];
    /// 404: what the path names does not exist.
    NotFound = [NOT_FOUND];
    /// 409: taken, or not now.
    Conflict = [CONFLICT];
    /// 413: the body is too large.
    TooLarge = [PAYLOAD_TOO_LARGE];
    /// 502: the SCIM target failed.
    TargetError = [TARGET_ERROR];
}

/// The security schemes and the error answers.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ses_...")
                    .description(Some(
                        "An admin token from `sesame admin-token create <name> --user \
                         <admin>`; stored hashed, shown once.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sesame_session",
                "An admin's portal session (sign in at /login). Changes must come from \
                 sesame's own pages.",
            ))),
        );
        for a in ANSWERS {
            let mut response = ResponseBuilder::new().description(a.description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            );
            if a.status == 401 {
                let challenge = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["Bearer realm=\"sesame\""]));
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new().schema(challenge).build(),
                );
            }
            components.responses.insert(a.name.into(), response.into());
        }
    }
}

/// `{slug}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a parameter's document: handlers take the text")]
pub struct AppSlug {
    /// The app's slug.
    #[param(pattern = "^[a-z0-9-]{1,63}$")]
    pub slug: String,
}

/// `{group}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a parameter's document: handlers take the text")]
pub struct BoundGroup {
    /// A group name (case-insensitive).
    pub group: String,
}

/// `{name}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a parameter's document: handlers take the text")]
pub struct GroupName {
    /// A group name (case-insensitive).
    pub name: String,
}

/// `{username}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a parameter's document: handlers take the text")]
pub struct Username {
    /// A username (case-insensitive).
    pub username: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::api::ApiError;
    use crate::directory::DirectoryError;
    use crate::scim::control::ControlError;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_ref_resolves() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 100, "{}", all.len());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
    }

    /// The words an enum's schema lists are the ones serde writes.
    #[test]
    fn enum_schemas_are_the_serialised_words() {
        use crate::auth::mfa::Policy;
        use crate::saml::keys::KeyKind;
        use crate::scim::inventory::Status;
        use crate::scim::target::{AuthKind, Deprovision, TargetState};
        fn check<T: Serialize + ToSchema>(values: &[T]) {
            let schema = serde_json::to_value(T::schema()).unwrap();
            let mut listed: Vec<String> = serde_json::from_value(schema["enum"].clone()).unwrap();
            let mut written: Vec<String> = values
                .iter()
                .map(|v| {
                    serde_json::to_value(v)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            listed.sort();
            written.sort();
            assert_eq!(listed, written, "{}", T::name());
        }
        check(&TargetState::ALL);
        check(&Deprovision::ALL);
        check(&AuthKind::ALL);
        check(&Policy::ALL);
        check(&[KeyKind::Rsa, KeyKind::EcP256]);
        check(&[
            Status::New,
            Status::Linked,
            Status::InSesame,
            Status::Suspended,
        ]);
    }

    /// A schema name is one type: every endpoint that uses a name brings the same schema.
    #[test]
    fn each_schema_name_is_one_schema() {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for e in routes::endpoints() {
            for (name, schema) in e.document().1 {
                let schema = serde_json::to_value(schema).unwrap();
                let first = seen.entry(name.clone()).or_insert_with(|| schema.clone());
                assert_eq!(*first, schema, "two schemas named {name}");
            }
        }
        assert!(seen.len() > 30, "{}", seen.len());
    }

    /// Every code the API's conversions produce is one the document lists.
    #[test]
    fn error_codes_are_documented() {
        let doc = doc();
        let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let errors: Vec<ApiError> = vec![
            DirectoryError::Invalid("x".into()).into(),
            DirectoryError::Duplicate("x".into()).into(),
            DirectoryError::NotFound("x".into()).into(),
            DirectoryError::Managed("x".into()).into(),
            ControlError::Remote("x".into()).into(),
            crate::error::AppError::Forbidden("x".into()).into(),
            crate::error::AppError::Unavailable("x".into()).into(),
            crate::error::AppError::Internal("x".into()).into(),
            super::super::unavailable("x"),
        ];
        for e in errors {
            assert!(listed.contains(&e.code), "{}", e.code);
        }
        for code in ["unauthorized", "method_not_allowed", "bad_request"] {
            assert!(listed.contains(&code), "{code}");
        }
        let body = serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                code: "invalid",
                message: "m".into(),
            },
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "invalid", "message": "m"}})
        );
    }
}
