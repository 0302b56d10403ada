//! JSON helpers for SCIM resources: case-insensitive attribute lookup (RFC 7643 §2.1:
//! "Attribute names are case insensitive"), the lenient booleans some clients send, and a
//! cheap depth check run before a body is parsed (SECURITY 18).

use serde_json::{Map, Value};

use super::ScimError;

/// Nesting deeper than this is refused before parsing; SCIM resources need four levels.
pub const MAX_DEPTH: usize = 16;

/// Whether `uri` is a core schema (its attributes sit at the top of the resource).
pub fn is_core(uri: &str) -> bool {
    uri.eq_ignore_ascii_case(super::USER_SCHEMA) || uri.eq_ignore_ascii_case(super::GROUP_SCHEMA)
}

pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key under which `key` is stored in `obj`, whatever its case.
pub fn key_ci(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// A string attribute; absent or null is `None`.
pub fn string(v: &Value, key: &str) -> Result<Option<String>, ScimError> {
    match get_ci(v, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{key} must be a string, not {other}"
        ))),
    }
}

/// A boolean attribute; Entra ID sends `"True"`/`"False"` as strings.
pub fn boolean(v: &Value, key: &str) -> Result<Option<bool>, ScimError> {
    match get_ci(v, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{key} must be a boolean, not {other}"
        ))),
    }
}

/// Parses a request body, refusing deep nesting before serde walks it.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ScimError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ScimError::bad(
                        "invalidSyntax",
                        format!("the body nests deeper than {MAX_DEPTH} levels"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_checked_before_parsing() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_body(deep.as_bytes()).unwrap_err().status, 400);
        assert!(parse_body(br#"{"a": "[[[[[[[[[[[[[[[[[[[[[[["}"#).is_ok());
        assert!(parse_body(b"[1]").is_err());
        assert!(parse_body(b"{").is_err());
    }

    #[test]
    fn lenient_booleans() {
        let v = serde_json::json!({"Active": "False", "x": 1});
        assert_eq!(boolean(&v, "active").unwrap(), Some(false));
        assert!(boolean(&v, "x").is_err());
    }
}
