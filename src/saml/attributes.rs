//! Per-app attribute statements (PRODUCT §3.3): which user fields go out under which SAML
//! attribute names. Email is always sent; the default mapping is email, firstName, lastName.
//! A source is a user field by its name, or an expression (`directory::expr`, the language
//! SCIM mappings use): `displayName=Join(" ", [first_name], [last_name])`.

use crate::directory::expr::{self, Expr};
use crate::directory::{DirectoryError, User};

/// A user field an attribute can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Email,
    Username,
    FirstName,
    LastName,
    DisplayName,
    Title,
    Phone,
    EmployeeId,
    Manager,
    /// Multi-valued: the names of the user's groups.
    Groups,
}

const SOURCES: [(&str, Source); 10] = [
    ("email", Source::Email),
    ("username", Source::Username),
    ("first-name", Source::FirstName),
    ("last-name", Source::LastName),
    ("display-name", Source::DisplayName),
    ("title", Source::Title),
    ("phone", Source::Phone),
    ("employee-id", Source::EmployeeId),
    ("manager", Source::Manager),
    ("groups", Source::Groups),
];

impl Source {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        SOURCES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<_> = SOURCES.iter().map(|(n, _)| *n).collect();
                DirectoryError::Invalid(format!(
                    "attribute source {s:?} must be one of: {}",
                    names.join(", ")
                ))
            })
    }
    pub fn as_str(self) -> &'static str {
        SOURCES
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }
}

/// Where an attribute's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Field(Source),
    /// One value (none when it evaluates to null).
    Expr(Expr),
}

impl Origin {
    /// A field name, else an expression; `name` is the attribute, for the refusal.
    pub fn parse(name: &str, text: &str) -> Result<Origin, DirectoryError> {
        let text = text.trim();
        if let Ok(s) = Source::parse(text) {
            return Ok(Origin::Field(s));
        }
        if !text.contains(['(', '[', '"']) {
            return Source::parse(text).map(Origin::Field);
        }
        expr::parse(text)
            .map(Origin::Expr)
            .map_err(|e| DirectoryError::Invalid(format!("mapping for attribute {name:?}: {e}")))
    }

    pub fn text(&self) -> String {
        match self {
            Origin::Field(s) => s.as_str().to_string(),
            Origin::Expr(e) => e.to_string(),
        }
    }

    pub fn is(&self, s: Source) -> bool {
        *self == Origin::Field(s)
    }
}

pub type Mapping = Vec<(String, Origin)>;

pub fn defaults() -> Mapping {
    vec![
        ("email".into(), Origin::Field(Source::Email)),
        ("firstName".into(), Origin::Field(Source::FirstName)),
        ("lastName".into(), Origin::Field(Source::LastName)),
    ]
}

/// `NAME=SOURCE` or `NAME=EXPRESSION`, as the CLI and console take it.
pub fn parse_item(item: &str) -> Result<(String, Origin), DirectoryError> {
    let (name, source) = item.split_once('=').ok_or_else(|| {
        DirectoryError::Invalid(format!(
            "attribute {item:?} must be NAME=SOURCE, e.g. firstName=first-name"
        ))
    })?;
    let name = name.trim();
    if name.is_empty()
        || name.len() > 256
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(DirectoryError::Invalid(format!(
            "attribute name {name:?} must be 1-256 characters without spaces"
        )));
    }
    Ok((name.to_string(), Origin::parse(name, source)?))
}

/// The stored form: JSON `[[name, source], ...]`, or empty for the defaults.
pub fn encode(m: &Mapping) -> String {
    if m.is_empty() {
        return String::new();
    }
    let pairs: Vec<(&str, String)> = m.iter().map(|(n, s)| (n.as_str(), s.text())).collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// The mapping as `NAME=SOURCE` items, as the CLI, the console and the API show it.
pub fn items(m: &Mapping) -> Vec<String> {
    m.iter().map(|(n, s)| format!("{n}={}", s.text())).collect()
}

pub fn decode(stored: &str) -> Mapping {
    let pairs: Vec<(String, String)> = serde_json::from_str(stored).unwrap_or_default();
    let m: Mapping = pairs
        .into_iter()
        .filter_map(|(n, s)| Origin::parse(&n, &s).ok().map(|s| (n, s)))
        .collect();
    if m.is_empty() {
        defaults()
    } else {
        m
    }
}

fn value(user: &User, groups: &[String], origin: &Origin) -> Vec<String> {
    let s = match origin {
        Origin::Field(s) => *s,
        Origin::Expr(e) => return e.eval_user(user).into_iter().collect(),
    };
    let one = |v: &str| {
        if v.is_empty() {
            vec![]
        } else {
            vec![v.to_string()]
        }
    };
    match s {
        Source::Email => one(&user.email),
        Source::Username => one(&user.username),
        Source::FirstName => one(&user.first_name),
        Source::LastName => one(&user.last_name),
        Source::DisplayName => one(format!("{} {}", user.first_name, user.last_name).trim()),
        Source::Title => one(&user.title),
        Source::Phone => one(&user.phone),
        Source::EmployeeId => one(&user.employee_id),
        Source::Manager => one(user.manager.as_deref().unwrap_or("")),
        Source::Groups => groups.to_vec(),
    }
}

/// The attribute statement for `user`: mapped fields with a value, and `email` always.
pub fn statement(m: &Mapping, user: &User, groups: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    if !m.iter().any(|(_, s)| s.is(Source::Email)) {
        out.push(("email".into(), vec![user.email.clone()]));
    }
    for (name, s) in m {
        let v = value(user, groups, s);
        if !v.is_empty() {
            out.push((name.clone(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_round_trip_and_refusals() {
        let m = vec![
            parse_item("mail=email").unwrap(),
            parse_item("memberOf=groups").unwrap(),
        ];
        assert_eq!(decode(&encode(&m)), m);
        assert_eq!(decode(""), defaults());
        assert!(parse_item("x").is_err());
        assert!(parse_item("a b=email").is_err());
        assert!(parse_item("x=phone-number").is_err());
    }

    #[test]
    fn an_attribute_from_an_expression() {
        let m = vec![parse_item(r#"displayName=Join(" ", [first_name], [last_name])"#).unwrap()];
        assert_eq!(decode(&encode(&m)), m);
        assert_eq!(
            items(&m),
            [r#"displayName=Join(" ", [first_name], [last_name])"#]
        );
        let err = parse_item("displayName=Left([first_name])").unwrap_err();
        assert_eq!(
            err.to_string(),
            "mapping for attribute \"displayName\": Left expects 2 arguments (at character 1)"
        );
    }
}
