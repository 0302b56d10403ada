//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: the handler reads the resource,
//! applies the operations here, and replaces the resource with the result, so a PATCH can
//! do exactly what a PUT can and nothing else. Accepted as Entra ID and Okta send them:
//! capitalised `op`, string booleans, a value object without a path whose keys are paths
//! (`name.givenName`, an extension URN with its attributes), `members[value eq "id"]`,
//! `emails[type eq "work"].value`.

use serde_json::{Map, Value};

use super::filter::{AttrPath, Filter};
use super::json::{get_ci, is_core, key_ci};
use super::{ScimError, PATCH_SCHEMA};

/// More operations than this in one request is refused.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Remove,
    Replace,
}

/// `attr[filter].sub` (RFC 7644 §3.5.2, "PATH" ABNF).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(s: &str) -> Result<PatchPath, ScimError> {
        let bad = |why: &str| ScimError::bad("invalidPath", format!("path {s:?}: {why}"));
        if s.len() > super::filter::MAX_LEN {
            return Err(bad("too long"));
        }
        if s.eq_ignore_ascii_case(super::ENTERPRISE_SCHEMA) {
            // The extension as a whole (its object sits under its URN).
            let attr = AttrPath {
                uri: None,
                attr: super::ENTERPRISE_SCHEMA.to_string(),
                sub: None,
            };
            return Ok(PatchPath {
                attr,
                filter: None,
                sub: None,
            });
        }
        let Some(open) = s.find('[') else {
            let mut attr = AttrPath::parse(s).map_err(|_| bad("not an attribute path"))?;
            let sub = attr.sub.take();
            return Ok(PatchPath {
                attr,
                filter: None,
                sub,
            });
        };
        let close = s.rfind(']').ok_or_else(|| bad("\"[\" is not closed"))?;
        if close < open {
            return Err(bad("brackets out of order"));
        }
        let attr = AttrPath::parse(&s[..open]).map_err(|_| bad("not an attribute path"))?;
        if attr.sub.is_some() {
            return Err(bad("a filter applies to an attribute, not a sub-attribute"));
        }
        let filter = Filter::parse(&s[open + 1..close])
            .map_err(|e| ScimError::bad("invalidPath", e.detail))?;
        let rest = &s[close + 1..];
        let sub = match rest.strip_prefix('.') {
            Some(sub)
                if !sub.is_empty()
                    && sub
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_') =>
            {
                Some(sub.to_string())
            }
            None if rest.is_empty() => None,
            _ => return Err(bad("unexpected text after \"]\"")),
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Reads a PatchOp message.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas_ok = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("a PATCH body lists the schema {PATCH_SCHEMA}"),
        ));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a PATCH body has Operations"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "tooMany",
            format!("at most {MAX_OPERATIONS} operations per PATCH"),
        ));
    }
    ops.iter()
        .map(|op| {
            let kind = match get_ci(op, "op").and_then(Value::as_str) {
                Some(k) if k.eq_ignore_ascii_case("add") => Kind::Add,
                Some(k) if k.eq_ignore_ascii_case("remove") => Kind::Remove,
                Some(k) if k.eq_ignore_ascii_case("replace") => Kind::Replace,
                other => {
                    return Err(ScimError::bad(
                        "invalidSyntax",
                        format!("op must be add, remove or replace, not {other:?}"),
                    ))
                }
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p)?),
                Some(_) => return Err(ScimError::bad("invalidPath", "path must be a string")),
            };
            let value = get_ci(op, "value").cloned();
            if kind == Kind::Remove && path.is_none() {
                return Err(ScimError::bad("noTarget", "remove needs a path"));
            }
            if kind != Kind::Remove && value.is_none() {
                return Err(ScimError::bad(
                    "invalidValue",
                    "add and replace need a value",
                ));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// Applies the operations in order to `resource`.
pub fn apply(resource: &mut Value, ops: &[Operation]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => apply_at(resource, op.kind, path, op.value.clone())?,
            None => {
                // §3.5.2.1/.3 without a path: the value's keys are attributes (or paths).
                let Some(Value::Object(value)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "without a path the value must be an object",
                    ));
                };
                for (key, v) in value {
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case(super::ENTERPRISE_SCHEMA) && v.is_object() {
                        // An extension's attributes under its URN.
                        for (k2, v2) in v.as_object().into_iter().flatten() {
                            let path = PatchPath::parse(&format!("{key}:{k2}"))?;
                            apply_at(resource, op.kind, &path, Some(v2.clone()))?;
                        }
                        continue;
                    }
                    let path = PatchPath::parse(key)?;
                    apply_at(resource, op.kind, &path, Some(v.clone()))?;
                }
            }
        }
    }
    Ok(())
}

/// The object holding `path`'s attribute: the resource, or its extension object.
fn container<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| ScimError::invalid_value("the resource is not an object"))?;
    match &path.uri {
        Some(uri) if !is_core(uri) => {
            let key = key_ci(root, uri).unwrap_or_else(|| uri.clone());
            let ext = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut()
                .ok_or_else(|| ScimError::invalid_value("the extension is not an object"))
        }
        _ => Ok(root),
    }
}

fn apply_at(
    resource: &mut Value,
    kind: Kind,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let obj = container(resource, &path.attr)?;
    let key = key_ci(obj, &path.attr.attr).unwrap_or_else(|| path.attr.attr.clone());
    match &path.filter {
        None => apply_plain(obj, &key, path.sub.as_deref(), kind, value),
        Some(filter) => apply_filtered(obj, &key, filter, path.sub.as_deref(), kind, value),
    }
}

fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        let key = key_ci(into, k).unwrap_or_else(|| k.clone());
        into.insert(key, v.clone());
    }
}

fn apply_plain(
    obj: &mut Map<String, Value>,
    key: &str,
    sub: Option<&str>,
    kind: Kind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    if let Some(sub) = sub {
        let target = obj
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let elements: Vec<&mut Value> = match target {
            Value::Array(items) => items.iter_mut().collect(),
            Value::Null => {
                *target = Value::Object(Map::new());
                vec![target]
            }
            other => vec![other],
        };
        for e in elements {
            let Some(m) = e.as_object_mut() else {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("{key} has no sub-attributes"),
                ));
            };
            let sk = key_ci(m, sub).unwrap_or_else(|| sub.to_string());
            match kind {
                Kind::Remove => {
                    m.remove(&sk);
                }
                _ => {
                    m.insert(sk, value.clone().unwrap_or(Value::Null));
                }
            }
        }
        return Ok(());
    }
    let existing = obj.get_mut(key);
    match (kind, existing, value) {
        // Entra ID removes members with {"path": "members", "value": [{"value": id}]}.
        (Kind::Remove, Some(Value::Array(items)), Some(Value::Array(gone))) => {
            items.retain(|e| !gone.iter().any(|g| same_element(e, g)));
        }
        (Kind::Remove, _, _) => {
            obj.remove(key);
        }
        (Kind::Add, Some(Value::Array(items)), Some(v)) => {
            let new = match v {
                Value::Array(a) => a,
                one => vec![one],
            };
            for n in new {
                if !items.iter().any(|e| same_element(e, &n)) {
                    items.push(n);
                }
            }
        }
        (_, Some(Value::Object(m)), Some(Value::Object(v))) => merge(m, &v),
        (_, _, Some(v)) => {
            obj.insert(key.to_string(), v);
        }
        (_, _, None) => {}
    }
    Ok(())
}

fn apply_filtered(
    obj: &mut Map<String, Value>,
    key: &str,
    filter: &Filter,
    sub: Option<&str>,
    kind: Kind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let items = match obj.get_mut(key) {
        Some(Value::Array(items)) => items,
        _ if kind == Kind::Remove => return Ok(()),
        _ => {
            obj.insert(key.to_string(), Value::Array(Vec::new()));
            match obj.get_mut(key) {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(ScimError::bad(
                        "noTarget",
                        format!("{key} is not multi-valued"),
                    ))
                }
            }
        }
    };
    if kind == Kind::Remove && sub.is_none() {
        items.retain(|e| !filter.matches(e));
        return Ok(());
    }
    let mut hits: Vec<usize> = (0..items.len())
        .filter(|&i| filter.matches(&items[i]))
        .collect();
    if hits.is_empty() && kind != Kind::Remove {
        // `emails[type eq "work"].value` on a user with no work email: create the element
        // the filter describes (what Entra ID expects).
        let Some((attr, v)) = filter.as_equality() else {
            return Err(ScimError::bad(
                "noTarget",
                format!("no element of {key} matches the filter"),
            ));
        };
        let mut m = Map::new();
        m.insert(attr.to_string(), v.clone());
        items.push(Value::Object(m));
        hits.push(items.len() - 1);
    }
    for i in hits {
        let Some(e) = items[i].as_object_mut() else {
            continue;
        };
        match (kind, sub, &value) {
            (Kind::Remove, Some(s), _) => {
                if let Some(k) = key_ci(e, s) {
                    e.remove(&k);
                }
            }
            (_, Some(s), Some(v)) => {
                let k = key_ci(e, s).unwrap_or_else(|| s.to_string());
                e.insert(k, v.clone());
            }
            (_, None, Some(Value::Object(v))) => merge(e, v),
            _ => {
                return Err(ScimError::invalid_value(
                    "the value for a filtered path must be an object",
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(resource: Value, ops: Value) -> Value {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        let ops = parse(&body).unwrap();
        let mut r = resource;
        apply(&mut r, &ops).unwrap();
        r
    }

    #[test]
    fn entra_forms() {
        let u = json!({"userName": "a", "active": true, "emails": [{"value": "a@x.com", "type": "work", "primary": true}]});
        let r = run(
            u.clone(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(r["active"], json!("False"));
        let r = run(
            u.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.com"}]),
        );
        assert_eq!(r["emails"][0]["value"], json!("b@x.com"));
        let r = run(
            u.clone(),
            json!([{"op": "Add", "value": {"name.givenName": "Al", "title": "Boss"}}]),
        );
        assert_eq!(r["name"]["givenName"], json!("Al"));
        assert_eq!(r["title"], json!("Boss"));
        let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let r = run(
            u.clone(),
            json!([{"op": "add", "path": format!("{ext}:employeeNumber"), "value": "9"}]),
        );
        assert_eq!(r[ext]["employeeNumber"], json!("9"));
        let r = run(
            u,
            json!([{"op": "replace", "value": {ext: {"manager": {"value": "3"}}}}]),
        );
        assert_eq!(r[ext]["manager"]["value"], json!("3"));
    }

    #[test]
    fn members() {
        let g = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}]});
        let r = run(
            g.clone(),
            json!([{"op": "remove", "path": "members[value eq \"1\"]"}]),
        );
        assert_eq!(r["members"], json!([{"value": "2"}]));
        let r = run(
            g.clone(),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "2"}]}]),
        );
        assert_eq!(r["members"], json!([{"value": "1"}]));
        let r = run(
            g.clone(),
            json!([{"op": "add", "path": "members", "value": [{"value": "2"}, {"value": "3"}]}]),
        );
        assert_eq!(r["members"].as_array().unwrap().len(), 3);
        let r = run(g, json!([{"op": "remove", "path": "members"}]));
        assert!(r.get("members").is_none());
    }

    #[test]
    fn malformed() {
        for ops in [
            json!([{"op": "move", "path": "a"}]),
            json!([{"op": "remove"}]),
            json!([{"op": "add", "path": "a[b eq"}]),
            json!([{"op": "add", "path": "x"}]),
        ] {
            let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
            assert_eq!(parse(&body).unwrap_err().status, 400, "{ops}");
        }
        assert!(parse(&json!({"Operations": []})).is_err());
    }
}
