//! Per-target attribute mappings (issue 16): each a target path, an expression
//! (`directory::expr`) and when it applies — always, or on create only (sent in the POST,
//! never in a later PATCH or PUT). They override or add to the built-in mapping of
//! `scim::mapping`. Text form, one a line: `path = expression [create]`.
//!
//! Paths: singular attributes of the core User (RFC 7643 §4.1.1, `name.*` sub-attributes),
//! the work/home/other values of the multi-valued `emails` and `phoneNumbers` (§4.1.2),
//! and the enterprise extension's attributes (§4.3).

use std::fmt;

use serde_json::{json, Map, Value};

use super::mapping::ENTERPRISE;
use crate::directory::expr::{self, Expr};
use crate::directory::User;

/// RFC 7643 §4.1.1 (and `externalId`, §3.1): the core singular attributes a mapping may set.
const CORE: &[&str] = &[
    "userName",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "externalId",
    "name.formatted",
    "name.familyName",
    "name.givenName",
    "name.middleName",
    "name.honorificPrefix",
    "name.honorificSuffix",
];

/// RFC 7643 §4.3.
const ENTERPRISE_ATTRS: &[&str] = &[
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager.value",
];

/// RFC 7643 §4.1.2: the multi-valued attributes mapped by `type`, and the types taken.
const MULTI: &[(&str, &[&str])] = &[
    ("emails", &["work", "home", "other"]),
    ("phoneNumbers", &["work", "mobile", "home", "other"]),
];

/// The most mappings a target keeps.
pub const MAX_MAPS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    Create,
}

/// Where a mapped value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// A key of `mapping::desired`: a core path, `name.x`, `<ENTERPRISE>:attr`, or `manager`.
    Single(String),
    /// One typed value of a multi-valued attribute: (`emails`, `work`).
    Typed(&'static str, &'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrMap {
    pub path: Path,
    pub expr: Expr,
    pub when: When,
}

/// A refused mapping: the line (1-based), the target path as written and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute mapping line {line}: mapping for {path:?}: {message}")]
pub struct MapError {
    pub line: usize,
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maps(Vec<AttrMap>);

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let t = text.trim();
        if let Some(attr) = t.strip_prefix(ENTERPRISE).and_then(|r| r.strip_prefix(':')) {
            let attr = ENTERPRISE_ATTRS
                .iter()
                .find(|a| a.eq_ignore_ascii_case(attr))
                .ok_or_else(|| {
                    format!(
                        "the enterprise extension has no {attr:?} (RFC 7643 §4.3: {})",
                        ENTERPRISE_ATTRS.join(", ")
                    )
                })?;
            return Ok(Path::Single(match *attr {
                "manager.value" => "manager".to_string(),
                a => format!("{ENTERPRISE}:{a}"),
            }));
        }
        if let Some(core) = CORE.iter().find(|c| c.eq_ignore_ascii_case(t)) {
            return Ok(Path::Single(core.to_string()));
        }
        for (attr, types) in MULTI {
            let Some(rest) = strip_ci(t, attr) else {
                continue;
            };
            let ty = rest
                .strip_prefix("[type eq \"")
                .and_then(|r| r.strip_suffix("\"].value"))
                .and_then(|ty| types.iter().find(|k| k.eq_ignore_ascii_case(ty)));
            return ty.map(|ty| Path::Typed(attr, ty)).ok_or_else(|| {
                format!(
                    "write {attr}[type eq \"{}\"].value (types: {})",
                    types[0],
                    types.join(", ")
                )
            });
        }
        Err(format!(
            "not a mappable SCIM path (RFC 7643 §4.1: {}, emails[type eq \"work\"].value, \
             phoneNumbers[type eq \"work\"].value, or {ENTERPRISE}:<{}>)",
            CORE.join(", "),
            ENTERPRISE_ATTRS.join("|")
        ))
    }
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Single(k) if k == "manager" => write!(f, "{ENTERPRISE}:manager.value"),
            Path::Single(k) => f.write_str(k),
            Path::Typed(attr, ty) => write!(f, "{attr}[type eq \"{ty}\"].value"),
        }
    }
}

/// `path = expression [create]` (or `path=expression`, as the CLI takes it).
pub fn parse_line(line: &str) -> Result<AttrMap, (String, String)> {
    let (path, rest) = line.split_once('=').ok_or_else(|| {
        (
            line.trim().to_string(),
            "write path = expression".to_string(),
        )
    })?;
    let shown = path.trim().to_string();
    let fail = |m: String| (shown.clone(), m);
    let path = Path::parse(path).map_err(fail)?;
    let rest = rest.trim();
    let (text, when) = match rest.strip_suffix("[create]") {
        Some(head) if !head.trim().is_empty() && expr::parse(head).is_ok() => {
            (head.trim(), When::Create)
        }
        _ => (rest, When::Always),
    };
    let expr = expr::parse(text).map_err(|e| fail(e.to_string()))?;
    if let Path::Single(k) = &path {
        if k == "userName" {
            if when == When::Create {
                return Err(fail(
                    "userName is sent on every change: drop [create]".into(),
                ));
            }
            if !expr.reads_attributes() {
                return Err(fail(
                    "userName must differ per user: use an expression that reads an attribute"
                        .into(),
                ));
            }
        }
    }
    if matches!(path, Path::Typed(..)) && when == When::Create {
        return Err(fail(
            "emails and phoneNumbers are sent whole: [create] applies to singular attributes"
                .into(),
        ));
    }
    Ok(AttrMap { path, expr, when })
}

impl Maps {
    /// One mapping a line; blank lines and `#` comments are skipped. A later line for the
    /// same path is refused, so the table reads one way.
    pub fn parse(text: &str) -> Result<Maps, MapError> {
        let mut out: Vec<AttrMap> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |(path, message): (String, String)| MapError {
                line: i + 1,
                path,
                message,
            };
            let m = parse_line(line).map_err(err)?;
            if out.iter().any(|o| o.path == m.path) {
                return Err(err((m.path.to_string(), "mapped twice".into())));
            }
            if out.len() == MAX_MAPS {
                return Err(err((m.path.to_string(), format!("more than {MAX_MAPS}"))));
            }
            out.push(m);
        }
        Ok(Maps(out))
    }

    /// From items as the CLI and the API take them (one mapping each).
    pub fn from_items(items: &[String]) -> Result<Maps, MapError> {
        let lines: Vec<String> = items.iter().map(|i| i.replace(['\n', '\r'], " ")).collect();
        Maps::parse(&lines.join("\n"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each mapping in its text form.
    pub fn items(&self) -> Vec<String> {
        self.0.iter().map(|m| m.to_string()).collect()
    }

    /// Applies the mappings to `m` (the built-in attributes of `user`): a value sets the
    /// path, null clears it.
    pub fn apply(&self, user: &User, m: &mut Map<String, Value>) {
        for a in &self.0 {
            let v = a.expr.eval_user(user);
            match (&a.path, v) {
                (Path::Single(k), Some(v)) if k == "manager" => {
                    m.insert(k.clone(), json!({ "value": v }));
                }
                (Path::Single(k), Some(v)) => {
                    m.insert(k.clone(), json!(v));
                }
                (Path::Single(k), None) => {
                    m.remove(k);
                }
                (Path::Typed(attr, ty), v) => set_typed(m, attr, ty, v),
            }
        }
    }

    /// The keys sent on create only: left out of every later comparison.
    pub fn create_only(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|a| a.when == When::Create)
            .filter_map(|a| match &a.path {
                Path::Single(k) => Some(k.clone()),
                Path::Typed(..) => None,
            })
            .collect()
    }

    /// The singular keys mapped, to read back from a target's resource.
    pub fn keys(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|a| match &a.path {
                Path::Single(k) => Some(k.clone()),
                Path::Typed(..) => None,
            })
            .collect()
    }
}

/// What sesame would send for `user`: the built-in mapping less the exclusions, then the
/// target's own mappings over it.
pub fn resource(
    user: &User,
    excluded: &[String],
    manager_remote_id: Option<&str>,
    maps: &Maps,
) -> Map<String, Value> {
    let mut m = super::mapping::desired(user, excluded, manager_remote_id);
    maps.apply(user, &mut m);
    m
}

/// `m` without the create-only keys: what later updates compare and send.
pub fn for_update(m: &Map<String, Value>, create_only: &[String]) -> Map<String, Value> {
    let mut out = m.clone();
    for k in create_only {
        out.remove(k);
    }
    out
}

/// Sets (or with `None` removes) the value of type `ty` in the multi-valued `attr`, in the
/// shape `mapping::from_remote` compares.
fn set_typed(m: &mut Map<String, Value>, attr: &str, ty: &str, v: Option<String>) {
    let mut list = match m.remove(attr) {
        Some(Value::Array(l)) => l,
        _ => Vec::new(),
    };
    let at = list.iter().position(|i| i["type"] == ty);
    match (at, v) {
        (Some(i), Some(v)) => list[i]["value"] = json!(v),
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => {
            let mut item = json!({ "value": v, "type": ty });
            if attr == "emails" {
                item["primary"] = json!(list.is_empty());
            }
            list.push(item);
        }
        (None, None) => {}
    }
    if !list.is_empty() {
        m.insert(attr.to_string(), Value::Array(list));
    }
}

impl fmt::Display for AttrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.path, self.expr)?;
        if self.when == When::Create {
            f.write_str(" [create]")?;
        }
        Ok(())
    }
}

impl fmt::Display for Maps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.items().join("\n"))
    }
}

impl serde::Serialize for Maps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items().serialize(s)
    }
}

#[cfg(test)]
#[path = "maps_tests.rs"]
mod tests;
