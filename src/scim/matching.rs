//! Matching (issue 16; Entra's "matching properties" and "matching precedence"): how an
//! account that already exists in the target is found before a create. The rules are tried
//! in order, each a `GET /Users?filter=…` (RFC 7644 §3.4.2.2); the first that finds an
//! account links it. A rule whose sesame value is empty is skipped.

use std::fmt;

use serde_json::Value;

use crate::directory::{DirectoryError, User};

/// One matching attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchRule {
    /// `userName` = sesame's username.
    UserName,
    /// `externalId` = sesame's employee id.
    ExternalId,
    /// `emails[type eq "work"].value` = sesame's email.
    WorkEmail,
}

impl MatchRule {
    pub const ALL: [MatchRule; 3] = [
        MatchRule::UserName,
        MatchRule::ExternalId,
        MatchRule::WorkEmail,
    ];

    /// The SCIM attribute path, as the filter and the settings write it.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchRule::UserName => "userName",
            MatchRule::ExternalId => "externalId",
            MatchRule::WorkEmail => "emails[type eq \"work\"].value",
        }
    }

    /// The path, or `email` for the work email (case-insensitive).
    pub fn parse(s: &str) -> Option<MatchRule> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("email") {
            return Some(MatchRule::WorkEmail);
        }
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    /// The user's value this rule compares, if any.
    pub fn value(self, u: &User) -> &str {
        match self {
            MatchRule::UserName => &u.username,
            MatchRule::ExternalId => &u.employee_id,
            MatchRule::WorkEmail => &u.email,
        }
    }

    /// The look-up filter for `value`: RFC 7644 §3.4.2.2 makes `compValue` a JSON string
    /// (RFC 8259 §7), so a quote or a backslash in the value is escaped (`\"`, `\\`) and
    /// can never end the string early or add a clause.
    pub fn filter(self, value: &str) -> String {
        format!("{} eq {}", self.as_str(), Value::String(value.to_string()))
    }
}

/// The rules in order of precedence: never empty, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matching(Vec<MatchRule>);

impl Default for Matching {
    fn default() -> Self {
        Matching(vec![MatchRule::UserName])
    }
}

impl Matching {
    /// A comma-separated list (`userName,externalId`).
    pub fn parse(s: &str) -> Result<Matching, DirectoryError> {
        let mut rules = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let r = MatchRule::parse(word).ok_or_else(|| {
                let names: Vec<_> = MatchRule::ALL.iter().map(|r| r.as_str()).collect();
                DirectoryError::Invalid(format!(
                    "unknown matching attribute {word:?} (choose from: {})",
                    names.join(", ")
                ))
            })?;
            if rules.contains(&r) {
                return Err(DirectoryError::Invalid(format!(
                    "matching attribute {} is listed twice",
                    r.as_str()
                )));
            }
            rules.push(r);
        }
        if rules.is_empty() {
            return Err(DirectoryError::Invalid(
                "give at least one matching attribute (userName, externalId or email)".into(),
            ));
        }
        Ok(Matching(rules))
    }

    pub fn rules(&self) -> &[MatchRule] {
        &self.0
    }

    /// The look-ups for `u`, in order: (rule, filter), rules with an empty value left out.
    pub fn lookups(&self, u: &User) -> Vec<(MatchRule, String)> {
        self.0
            .iter()
            .filter(|r| !r.value(u).is_empty())
            .map(|r| (*r, r.filter(r.value(u))))
            .collect()
    }

    /// Whether a target resource found by listing matches `u` by `rule` (the dry run reads
    /// the inventory instead of sending a look-up per user). userName and emails compare
    /// without case (RFC 7643 §4.1: caseExact false), externalId exactly (§3.1).
    pub fn finds(rule: MatchRule, u: &User, resource: &Value) -> bool {
        let v = rule.value(u);
        if v.is_empty() {
            return false;
        }
        match rule {
            MatchRule::UserName => resource["userName"]
                .as_str()
                .is_some_and(|n| n.to_lowercase() == v.to_lowercase()),
            MatchRule::ExternalId => resource["externalId"].as_str() == Some(v),
            MatchRule::WorkEmail => resource["emails"].as_array().is_some_and(|list| {
                list.iter().any(|e| {
                    e["type"].as_str() == Some("work")
                        && e["value"]
                            .as_str()
                            .is_some_and(|m| m.to_lowercase() == v.to_lowercase())
                })
            }),
        }
    }
}

impl fmt::Display for Matching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self.0.iter().map(|r| r.as_str()).collect();
        f.write_str(&words.join(","))
    }
}

impl serde::Serialize for Matching {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in &self.0 {
            seq.serialize_element(r.as_str())?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_escape_quotes_and_backslashes() {
        assert_eq!(
            MatchRule::ExternalId.filter(r#"E"1\2"#),
            r#"externalId eq "E\"1\\2""#
        );
        assert_eq!(
            MatchRule::WorkEmail.filter("a@x"),
            r#"emails[type eq "work"].value eq "a@x""#
        );
    }

    #[test]
    fn precedence_parses_in_order_once() {
        let m = Matching::parse("externalId, userName").unwrap();
        assert_eq!(m.rules(), [MatchRule::ExternalId, MatchRule::UserName]);
        assert_eq!(m.to_string(), "externalId,userName");
        assert_eq!(Matching::parse(&m.to_string()).unwrap(), m);
        let all = Matching::parse("username,email,EXTERNALID").unwrap();
        assert_eq!(Matching::parse(&all.to_string()).unwrap(), all);
        assert!(Matching::parse("userName,userName").is_err());
        assert!(Matching::parse("mail").is_err());
        assert!(Matching::parse(" , ").is_err());
        assert_eq!(Matching::default().to_string(), "userName");
    }

    #[test]
    fn a_listed_account_is_found_by_each_rule() {
        let u = User {
            id: 1,
            username: "alice".into(),
            email: "alice@example.com".into(),
            first_name: String::new(),
            last_name: String::new(),
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
        };
        let r = json!({"userName": "ALICE", "externalId": "E1",
                       "emails": [{"value": "Alice@Example.com", "type": "work"}]});
        for rule in MatchRule::ALL {
            assert!(Matching::finds(rule, &u, &r), "{rule:?}");
        }
        assert!(!Matching::finds(
            MatchRule::ExternalId,
            &u,
            &json!({"externalId": "e1"})
        ));
    }
}
