//! SCIM filters (RFC 7644 §3.4.2.2): parsed into a small tree and evaluated against a
//! resource's JSON. Size and depth are bounded before and while parsing (SECURITY 18): a
//! filter longer than [`MAX_LEN`] is refused before any work, and nesting deeper than
//! [`MAX_DEPTH`] stops the parser, so evaluation (recursive over that bounded tree) cannot
//! run away. Attribute names compare case-insensitively (§3.4.2.2: "Attribute names and
//! attribute operators used in filters are case insensitive").

use serde_json::Value;

use super::json::get_ci;
use super::ScimError;

pub const MAX_LEN: usize = 4096;
pub const MAX_DEPTH: usize = 32;

/// `urn:...:attr.sub`: the schema URN when given, the attribute, the sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn parse(s: &str) -> Result<AttrPath, ScimError> {
        let bad = || ScimError::invalid_filter(format!("{s:?} is not an attribute path"));
        let (uri, rest) = match s.rfind(':') {
            Some(i) => (Some(s[..i].to_string()), &s[i + 1..]),
            None => (None, s),
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !name_ok(attr) || sub.is_some_and(|x| !name_ok(x)) {
            return Err(bad());
        }
        Ok(AttrPath {
            uri,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// The values this path names in `resource` (a multi-valued attribute gives each
    /// element's sub-attribute, or its `value` when no sub-attribute is named).
    pub fn values<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        let scope = match &self.uri {
            Some(uri) if !super::json::is_core(uri) => match get_ci(resource, uri) {
                Some(v) => v,
                None => return Vec::new(),
            },
            _ => resource,
        };
        let Some(v) = get_ci(scope, &self.attr) else {
            return Vec::new();
        };
        let pick = |e: &'a Value| -> Option<&'a Value> {
            match (&self.sub, e) {
                (Some(sub), _) => get_ci(e, sub),
                (None, Value::Object(_)) => get_ci(e, "value"),
                (None, _) => Some(e),
            }
        };
        match v {
            Value::Array(items) => items.iter().filter_map(pick).collect(),
            Value::Object(_) if self.sub.is_some() => pick(v).into_iter().collect(),
            other => vec![other],
        }
    }

    fn case_exact(&self) -> bool {
        // RFC 7643 §3.1: `id` and `externalId` are case-exact; the rest we serve is not.
        self.sub.is_none()
            && (self.attr.eq_ignore_ascii_case("id")
                || self.attr.eq_ignore_ascii_case("externalId"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `emails[type eq "work"]`: some element of the attribute matches the inner filter.
    ValuePath(AttrPath, Box<Filter>),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            '[' => {
                out.push(Token::OpenBracket);
                i += 1
            }
            ']' => {
                out.push(Token::CloseBracket);
                i += 1
            }
            '"' => {
                // A JSON string (RFC 7644 §3.4.2.2: compValue is JSON), escapes included.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(ScimError::invalid_filter("a string is not closed"));
                }
                let raw: String = chars[start..=i].iter().collect();
                let v: String = serde_json::from_str(&raw)
                    .map_err(|_| ScimError::invalid_filter("a string is malformed"))?;
                out.push(Token::Str(v));
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r()[]\"".contains(chars[i]) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Filter {
    /// Parses a filter; anything malformed is 400 `invalidFilter`.
    pub fn parse(s: &str) -> Result<Filter, ScimError> {
        if s.len() > MAX_LEN {
            return Err(ScimError::invalid_filter(format!(
                "the filter is longer than {MAX_LEN} characters"
            )));
        }
        let mut p = Parser {
            tokens: tokenize(s)?,
            pos: 0,
            depth: 0,
        };
        let f = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(ScimError::invalid_filter(
                "unexpected text after the filter",
            ));
        }
        Ok(f)
    }

    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::Present(path) => path.values(resource).into_iter().any(present),
            Filter::Compare(path, op, want) => {
                let exact = path.case_exact();
                path.values(resource)
                    .into_iter()
                    .any(|have| compare(have, *op, want, exact))
                    || (*op == Op::Ne && path.values(resource).is_empty())
            }
            Filter::ValuePath(path, inner) => {
                let scope = match &path.uri {
                    Some(uri) if !super::json::is_core(uri) => get_ci(resource, uri),
                    _ => Some(resource),
                };
                match scope.and_then(|s| get_ci(s, &path.attr)) {
                    Some(Value::Array(items)) => items.iter().any(|e| inner.matches(e)),
                    Some(v @ Value::Object(_)) => inner.matches(v),
                    _ => false,
                }
            }
            Filter::Not(f) => !f.matches(resource),
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
        }
    }

    /// `attr eq "value"` when that is all the filter says (the PATCH of an absent
    /// element creates it from this).
    pub fn as_equality(&self) -> Option<(&str, &Value)> {
        match self {
            Filter::Compare(p, Op::Eq, v) if p.sub.is_none() && p.uri.is_none() => {
                Some((&p.attr, v))
            }
            _ => None,
        }
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(have: &Value, op: Op, want: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = if exact {
                (h.clone(), w.clone())
            } else {
                (h.to_lowercase(), w.to_lowercase())
            };
            match op {
                Op::Co => return h.contains(&w),
                Op::Sw => return h.starts_with(&w),
                Op::Ew => return h.ends_with(&w),
                _ => Some(h.cmp(&w)),
            }
        }
        (Value::Number(h), Value::Number(w)) => h
            .as_f64()
            .zip(w.as_f64())
            .and_then(|(h, w)| h.partial_cmp(&w)),
        (Value::Bool(h), Value::Bool(w)) if matches!(op, Op::Eq | Op::Ne) => Some(h.cmp(w)),
        // A string boolean (what some clients store) against a boolean.
        (Value::String(h), Value::Bool(w)) | (Value::Bool(w), Value::String(h))
            if matches!(op, Op::Eq | Op::Ne) =>
        {
            Some(if h.eq_ignore_ascii_case(&w.to_string()) {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        (_, Value::Null) => Some(Ordering::Less),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Ne, Some(o)) => o != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn deeper(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "the filter nests deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    // Precedence (§3.4.2.2, Table 3): not, then and, then or.
    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        self.deeper()?;
        let f = if self.keyword("not") {
            self.pos += 1;
            if self.next() != Some(Token::Open) {
                return Err(ScimError::invalid_filter(
                    "\"not\" must be followed by \"(\"",
                ));
            }
            let inner = self.or()?;
            self.expect(Token::Close, "\")\"")?;
            Filter::Not(Box::new(inner))
        } else if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close, "\")\"")?;
            inner
        } else {
            self.attr_exp()?
        };
        self.depth -= 1;
        Ok(f)
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<(), ScimError> {
        if self.next() == Some(t) {
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!("expected {what}")))
        }
    }

    fn attr_exp(&mut self) -> Result<Filter, ScimError> {
        let Some(Token::Word(path)) = self.next() else {
            return Err(ScimError::invalid_filter("expected an attribute name"));
        };
        let path = AttrPath::parse(&path)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::CloseBracket, "\"]\"")?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let Some(Token::Word(op)) = self.next() else {
            return Err(ScimError::invalid_filter("expected an operator"));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => {
                return Err(ScimError::invalid_filter(format!(
                    "{other:?} is not an operator"
                )))
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                n => serde_json::from_str::<serde_json::Number>(n)
                    .map(Value::Number)
                    .map_err(|_| ScimError::invalid_filter(format!("{n:?} is not a value")))?,
            },
            _ => return Err(ScimError::invalid_filter("expected a value")),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "id": "7", "userName": "Alice", "active": true,
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "42"},
        })
    }

    fn m(f: &str) -> bool {
        Filter::parse(f).unwrap().matches(&user())
    }

    #[test]
    fn operators_and_logic() {
        assert!(m(r#"userName eq "alice""#));
        assert!(m(r#"USERNAME Eq "ALICE""#));
        assert!(!m(r#"userName ne "alice""#));
        assert!(m(r#"name.familyName co "ddel""#));
        assert!(m(r#"userName sw "al" and userName ew "ce""#));
        assert!(m(r#"title pr or userName pr"#));
        assert!(!m(r#"title pr"#));
        assert!(m(r#"not (userName eq "bob")"#));
        assert!(m(
            r#"(userName eq "bob" or userName eq "alice") and active eq true"#
        ));
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(m(r#"emails.value eq "alice@example.com""#));
        assert!(m(r#"emails eq "alice@example.com""#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice""#
        ));
        assert!(!m(r#"id eq "07""#));
    }

    #[test]
    fn malformed_is_invalid_filter() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName zz \"a\"",
            "(userName pr",
            "userName eq \"a",
            "not userName pr",
            "userName pr)",
            "a..b pr",
            "userName eq bob",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad:?}");
        }
    }

    #[test]
    fn hostile_filters_are_refused_quickly() {
        let long = format!("userName eq \"{}\"", "a".repeat(10_000));
        assert!(Filter::parse(&long).is_err());
        let deep = format!("{}userName pr{}", "(".repeat(1000), ")".repeat(1000));
        assert!(Filter::parse(&deep).is_err());
        let nots = "not (".repeat(500) + "userName pr" + &")".repeat(500);
        assert!(Filter::parse(&nots).is_err());
    }
}
