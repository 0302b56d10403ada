//! The discovery endpoints (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas
//! (RFC 7643 §5–§7). They describe exactly the attributes sesame keeps, so a client that
//! reads them (scim2-tester does) sends nothing that would be dropped.

use serde_json::{json, Value};

use super::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// RFC 7643 §5.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/sesame-idp/sesame#inbound-scim-sesame-as-a-scim-server",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": super::list::MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM source token (sesame scim-source add <name>)",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

fn resource_type(base: &str, name: &str, endpoint: &str, schema: &str, ext: Option<&str>) -> Value {
    let mut v = json!({
        "schemas": [RT_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": endpoint,
        "schema": schema,
        "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}") },
    });
    if let Some(e) = ext {
        v["schemaExtensions"] = json!([{ "schema": e, "required": false }]);
    }
    v
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        resource_type(base, "User", "/Users", USER_SCHEMA, Some(ENTERPRISE_SCHEMA)),
        resource_type(base, "Group", "/Groups", GROUP_SCHEMA, None),
    ]
}

/// One attribute definition (RFC 7643 §7).
fn attr(name: &str, kind: &str, multi: bool, required: bool) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "required": required,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    let mut v = attr(name, "complex", multi, false);
    v["subAttributes"] = Value::Array(subs);
    v
}

fn emails_required(mut v: Value) -> Value {
    v["required"] = json!(true);
    v
}

fn schema(base: &str, id: &str, name: &str, attributes: Vec<Value>) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": name,
        "attributes": attributes,
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    let mut user_name = attr("userName", "string", false, true);
    user_name["uniqueness"] = json!("server");
    let mut email_type = attr("type", "string", false, false);
    email_type["canonicalValues"] = json!(["work"]);
    let mut phone_type = attr("type", "string", false, false);
    phone_type["canonicalValues"] = json!(["work"]);
    let mut display_name = attr("displayName", "string", false, true);
    display_name["uniqueness"] = json!("server");
    let mut member_value = attr("value", "string", false, false);
    member_value["mutability"] = json!("immutable");
    let mut member_ref = attr("$ref", "reference", false, false);
    member_ref["referenceTypes"] = json!(["User"]);
    member_ref["mutability"] = json!("immutable");
    let mut member_display = attr("display", "string", false, false);
    member_display["mutability"] = json!("readOnly");
    let mut manager_ref = attr("$ref", "reference", false, false);
    manager_ref["referenceTypes"] = json!(["User"]);
    vec![
        schema(
            base,
            USER_SCHEMA,
            "User",
            vec![
                user_name,
                complex(
                    "name",
                    false,
                    vec![
                        attr("givenName", "string", false, false),
                        attr("familyName", "string", false, false),
                    ],
                ),
                attr("title", "string", false, false),
                attr("active", "boolean", false, false),
                // Required: sesame keeps one email per user (RFC 7643 §7 "required").
                emails_required(complex(
                    "emails",
                    true,
                    vec![
                        attr("value", "string", false, true),
                        email_type,
                        attr("primary", "boolean", false, false),
                    ],
                )),
                complex(
                    "phoneNumbers",
                    true,
                    vec![attr("value", "string", false, false), phone_type],
                ),
            ],
        ),
        schema(
            base,
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            vec![
                attr("employeeNumber", "string", false, false),
                complex(
                    "manager",
                    false,
                    vec![attr("value", "string", false, false), manager_ref],
                ),
            ],
        ),
        schema(
            base,
            GROUP_SCHEMA,
            "Group",
            vec![
                display_name,
                complex(
                    "members",
                    true,
                    vec![member_value, member_ref, member_display],
                ),
            ],
        ),
    ]
}

/// A ListResponse of everything (discovery lists are not filtered, §4).
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
