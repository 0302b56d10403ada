//! What a user looks like in the target (PRODUCT §3.4, the BlueJeans attribute table):
//! SCIM paths and the values sesame would send, and the minimal PATCH between two states.
//! RFC 7643 §4.1 (User), §4.3 (enterprise extension); RFC 7644 §3.5.2 (PATCH).

use serde_json::{json, Map, Value};

use crate::directory::{DirectoryError, User};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every path sesame maps, and whether an admin may exclude it.
pub const PATHS: &[(&str, bool)] = &[
    ("userName", false),
    ("name.givenName", false),
    ("name.familyName", false),
    ("emails", false),
    ("externalId", true),
    ("title", true),
    ("phoneNumbers", true),
    ("manager", true),
];

/// The stored name of an optional attribute an admin may exclude, checked.
pub fn optional(name: &str) -> Result<&'static str, DirectoryError> {
    PATHS
        .iter()
        .find(|(p, opt)| *opt && p.eq_ignore_ascii_case(name))
        .map(|(p, _)| *p)
        .ok_or_else(|| {
            let names: Vec<_> = PATHS.iter().filter(|(_, o)| *o).map(|(p, _)| *p).collect();
            DirectoryError::Invalid(format!(
                "{name:?} is not an optional attribute (optional: {})",
                names.join(", ")
            ))
        })
}

/// The wire path of a mapped attribute.
fn wire_path(p: &str) -> String {
    match p {
        "manager" => format!("{ENTERPRISE}:manager"),
        p => p.to_string(),
    }
}

/// The attribute values sesame would send for `user`, keyed by mapped path; empty fields are
/// absent. `manager_remote_id` is the manager's id in the target, when linked.
pub fn desired(
    user: &User,
    excluded: &[String],
    manager_remote_id: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |path: &str, v: Value| {
        if !excluded.iter().any(|e| e == path) {
            m.insert(path.to_string(), v);
        }
    };
    let text = |s: &str| (!s.is_empty()).then(|| json!(s));
    put("userName", json!(user.username));
    if let Some(v) = text(&user.first_name) {
        put("name.givenName", v);
    }
    if let Some(v) = text(&user.last_name) {
        put("name.familyName", v);
    }
    put(
        "emails",
        json!([{ "value": user.email, "type": "work", "primary": true }]),
    );
    if let Some(v) = text(&user.employee_id) {
        put("externalId", v);
    }
    if let Some(v) = text(&user.title) {
        put("title", v);
    }
    if !user.phone.is_empty() {
        put(
            "phoneNumbers",
            json!([{ "value": user.phone, "type": "work" }]),
        );
    }
    if let Some(id) = manager_remote_id {
        put("manager", json!({ "value": id }));
    }
    m
}

/// Where a mapped key lives in a resource: the outer attribute and, for a complex or
/// extension one, the sub-attribute (`manager` and `<ENTERPRISE>:attr` are the extension's,
/// RFC 7643 §4.3).
fn location(path: &str) -> (&str, Option<&str>) {
    if path == "manager" {
        return (ENTERPRISE, Some("manager"));
    }
    if let Some(attr) = path
        .strip_prefix(ENTERPRISE)
        .and_then(|r| r.strip_prefix(':'))
    {
        return (ENTERPRISE, Some(attr));
    }
    match path.split_once('.') {
        Some((outer, inner)) => (outer, Some(inner)),
        None => (path, None),
    }
}

/// The `POST /Users` body (RFC 7644 §3.3).
pub fn create_body(attrs: &Map<String, Value>) -> Value {
    let mut body = json!({ "schemas": [USER_SCHEMA], "active": true });
    for (path, v) in attrs {
        match location(path) {
            (outer, Some(inner)) => {
                if outer == ENTERPRISE {
                    body["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
                }
                if !body[outer].is_object() {
                    body[outer] = json!({});
                }
                body[outer][inner] = v.clone();
            }
            (p, None) => body[p] = v.clone(),
        }
    }
    body
}

/// PATCH operations from `before` (what the target has from us) to `after`: one `replace`
/// per changed value, one `remove` per cleared one, lowercase ops (RFC 7644 §3.5.2).
pub fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<Value> {
    let mut ops = Vec::new();
    for (path, v) in after {
        if before.get(path) != Some(v) {
            ops.push(json!({ "op": "replace", "path": wire_path(path), "value": v }));
        }
    }
    for path in before.keys() {
        if !after.contains_key(path) {
            ops.push(json!({ "op": "remove", "path": wire_path(path) }));
        }
    }
    ops
}

pub fn patch_body(ops: Vec<Value>) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": ops })
}

/// The full resource for a `PUT` (RFC 7644 §3.5.1) to a target without PATCH: the target's
/// current `resource` (a fresh GET) with the PATCH operations `ops` applied, so attributes
/// sesame does not map stay as the target has them. `meta` is left out (read-only, RFC 7643
/// §3.1); `id` and `schemas` stay.
pub fn put_body(resource: &Value, ops: &[Value]) -> Value {
    let mut body = match resource {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    body.remove("meta");
    for op in ops {
        let Some(path) = op["path"].as_str() else {
            continue;
        };
        let value = (op["op"] != "remove").then(|| op["value"].clone());
        let (outer, inner) = match path
            .strip_prefix(ENTERPRISE)
            .and_then(|r| r.strip_prefix(':'))
        {
            Some(attr) => (ENTERPRISE, Some(attr)),
            None => match path.split_once('.') {
                Some((o, i)) => (o, Some(i)),
                None => (path, None),
            },
        };
        match (inner, value) {
            (None, Some(v)) => {
                body.insert(outer.to_string(), v);
            }
            (None, None) => {
                body.remove(outer);
            }
            (Some(i), v) => {
                let entry = body.entry(outer.to_string()).or_insert_with(|| json!({}));
                if !entry.is_object() {
                    *entry = json!({});
                }
                if let Some(o) = entry.as_object_mut() {
                    match v {
                        Some(v) => {
                            o.insert(i.to_string(), v);
                        }
                        None => {
                            o.remove(i);
                        }
                    }
                }
                if outer == ENTERPRISE {
                    let schemas = body
                        .entry("schemas")
                        .or_insert_with(|| json!([USER_SCHEMA]));
                    if let Some(list) = schemas.as_array_mut() {
                        if !list.iter().any(|s| s == ENTERPRISE) {
                            list.push(json!(ENTERPRISE));
                        }
                    }
                }
            }
        }
    }
    Value::Object(body)
}

/// Every mapped value of `after` as a `replace` (a PUT sends the whole resource, so it also
/// corrects what drifted in the target), plus a `remove` for what sesame had sent and no
/// longer has.
pub fn full(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<Value> {
    let mut ops: Vec<Value> = after
        .iter()
        .map(|(path, v)| json!({ "op": "replace", "path": wire_path(path), "value": v }))
        .collect();
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        ops.push(json!({ "op": "remove", "path": wire_path(path) }));
    }
    ops
}

/// The mapped values as the target holds them (for a user found by lookup): the built-in
/// paths and the `extra` keys of the target's own mappings (`scim::maps`).
pub fn from_remote(resource: &Value, extra: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    let paths = PATHS
        .iter()
        .map(|(p, _)| *p)
        .chain(extra.iter().map(String::as_str));
    for path in paths {
        let v = match location(path) {
            (_, Some("manager")) => resource[ENTERPRISE]["manager"]
                .get("value")
                .map(|id| json!({ "value": id })),
            (o, Some(i)) => resource[o].get(i).cloned(),
            (p, None) => resource.get(p).cloned(),
        };
        if let Some(v) = v.filter(|v| !v.is_null()) {
            m.insert(path.to_string(), v);
        }
    }
    // Compare multi-valued attributes in the shape we send.
    for key in ["emails", "phoneNumbers"] {
        if let Some(Value::Array(items)) = m.get(key).cloned() {
            let norm: Vec<Value> = items
                .iter()
                .map(|i| {
                    let mut o = json!({ "value": i["value"], "type": i["type"] });
                    if key == "emails" {
                        o["primary"] = json!(i["primary"].as_bool().unwrap_or(false));
                    }
                    o
                })
                .collect();
            m.insert(key.to_string(), Value::Array(norm));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 1,
            username: "alice".into(),
            email: "alice@example.com".into(),
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            title: String::new(),
            phone: String::new(),
            employee_id: "E1".into(),
            manager: None,
            department: String::new(),
            cost_center: String::new(),
            location: String::new(),
            active: true,
            is_admin: false,
            must_change_password: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn one_change_is_one_operation_and_a_clear_is_a_remove() {
        let before = desired(&user(), &[], None);
        let mut u = user();
        u.first_name = "Alicia".into();
        let ops = diff(&before, &desired(&u, &[], None));
        assert_eq!(
            ops,
            vec![json!({"op": "replace", "path": "name.givenName", "value": "Alicia"})]
        );
        let mut u = user();
        u.employee_id = String::new();
        assert_eq!(
            diff(&before, &desired(&u, &[], None)),
            vec![json!({"op": "remove", "path": "externalId"})]
        );
        assert!(diff(&before, &desired(&user(), &[], None)).is_empty());
    }

    #[test]
    fn bodies_filters_and_exclusions() {
        let d = desired(&user(), &["externalId".into()], Some("m-1"));
        assert!(!d.contains_key("externalId"));
        let body = create_body(&d);
        assert_eq!(body["name"]["givenName"], "Alice");
        assert_eq!(body[ENTERPRISE]["manager"]["value"], "m-1");
        assert_eq!(body["active"], true);
        assert_eq!(
            from_remote(&body, &[]),
            d,
            "what we create reads back the same"
        );
        assert!(optional("title").is_ok() && optional("userName").is_err());
    }

    #[test]
    fn a_put_body_keeps_what_sesame_does_not_map() {
        let remote = json!({
            "schemas": [USER_SCHEMA],
            "id": "r-1",
            "userName": "alice",
            "nickName": "the target's own",
            "title": "old",
            "name": { "givenName": "A", "honorificPrefix": "Dr" },
            "meta": { "version": "W/\"3\"" },
        });
        let mut before = desired(&user(), &[], None);
        before.insert("title".into(), json!("old"));
        let mut u = user();
        u.first_name = "Alicia".into();
        let ops = full(&before, &desired(&u, &[], Some("m-9")));
        let mut ops = ops;
        ops.push(json!({ "op": "replace", "path": "active", "value": false }));
        let body = put_body(&remote, &ops);
        assert_eq!(body["id"], "r-1");
        assert_eq!(body["nickName"], "the target's own");
        assert_eq!(body["name"]["honorificPrefix"], "Dr");
        assert_eq!(body["name"]["givenName"], "Alicia");
        assert_eq!(body["active"], false);
        assert!(body.get("title").is_none(), "cleared in sesame: removed");
        assert!(body.get("meta").is_none());
        assert_eq!(body[ENTERPRISE]["manager"]["value"], "m-9");
        assert_eq!(body["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    }
}
