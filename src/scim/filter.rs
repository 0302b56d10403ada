//! Scoping filters (issue 16; Entra's "attribute-based scoping filters"): which users a
//! target keeps among those its scope names. Clauses in one group are AND-ed, groups are
//! OR-ed; no filter keeps everyone. Pure: parsed from and printed to the text the console,
//! the API, the CLI and declarations share, one clause a line:
//!
//! ```text
//! group 1: title equals Engineer
//! group 1: member_of in Sales, Support
//! group 2: email matches @contractors\.example$
//! ```
//!
//! A line without `group N:` belongs to group 1; blank lines and `#` comments are skipped.
//! Text comparisons ignore case (as sesame compares usernames); `matches` is a regular
//! expression searched anywhere in the value (anchor it with `^…$`), in linear time.

use std::fmt;

use regex_automata::meta::Regex;

/// At most this many clauses, and this long a line: the filter is evaluated per user.
const MAX_CLAUSES: usize = 100;
const MAX_LINE: usize = 1024;
/// The compiled pattern's size limit (bytes of automaton), far above any sensible filter.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// A user attribute a clause reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Username,
    Email,
    FirstName,
    LastName,
    Title,
    EmployeeId,
    /// The manager's username.
    Manager,
    /// The names of the user's groups: a clause holds when one of them satisfies it
    /// (`not equals`: when none equals the value; `is empty`: in no group).
    MemberOf,
}

impl Attr {
    pub const ALL: [Attr; 8] = [
        Attr::Username,
        Attr::Email,
        Attr::FirstName,
        Attr::LastName,
        Attr::Title,
        Attr::EmployeeId,
        Attr::Manager,
        Attr::MemberOf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Attr::Username => "username",
            Attr::Email => "email",
            Attr::FirstName => "first_name",
            Attr::LastName => "last_name",
            Attr::Title => "title",
            Attr::EmployeeId => "employee_id",
            Attr::Manager => "manager",
            Attr::MemberOf => "member_of",
        }
    }

    fn parse(s: &str) -> Option<Attr> {
        let s = s.to_ascii_lowercase().replace([' ', '-'], "_");
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A regular expression with the text it came from (compared and printed by that text).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    re: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Pattern {}

impl Pattern {
    fn new(source: &str) -> Result<Pattern, String> {
        let re = Regex::builder()
            .configure(Regex::config().nfa_size_limit(Some(MAX_REGEX_BYTES)))
            .build(source)
            .map_err(|e| format!("the regular expression {source:?} does not parse: {e}"))?;
        Ok(Pattern {
            source: source.to_string(),
            re,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Equals(String),
    NotEquals(String),
    StartsWith(String),
    IsEmpty,
    IsNotEmpty,
    In(Vec<String>),
    Matches(Pattern),
}

/// The operator words, longest first so that `is not empty` is never read as `is empty`.
const OPERATORS: [&str; 7] = [
    "is not empty",
    "is empty",
    "not equals",
    "starts with",
    "equals",
    "matches",
    "in",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub attr: Attr,
    pub op: Op,
}

/// A refused filter: the line (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scoping filter line {line}: {message}")]
pub struct FilterError {
    pub line: usize,
    pub message: String,
}

/// Groups of clauses; empty keeps everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    groups: Vec<Vec<Clause>>,
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl Clause {
    /// Whether the clause holds for one value ("" when the attribute is empty).
    fn holds_for(&self, v: &str) -> bool {
        match &self.op {
            Op::Equals(x) => fold(v) == fold(x),
            Op::NotEquals(x) => fold(v) != fold(x),
            Op::StartsWith(x) => fold(v).starts_with(&fold(x)),
            Op::IsEmpty => v.is_empty(),
            Op::IsNotEmpty => !v.is_empty(),
            Op::In(list) => list.iter().any(|x| fold(x) == fold(v)),
            Op::Matches(p) => p.re.is_match(v),
        }
    }

    fn holds(&self, s: &Subject<'_>) -> bool {
        let u = s.user;
        let one = |v: &str| self.holds_for(v);
        match self.attr {
            Attr::Username => one(&u.username),
            Attr::Email => one(&u.email),
            Attr::FirstName => one(&u.first_name),
            Attr::LastName => one(&u.last_name),
            Attr::Title => one(&u.title),
            Attr::EmployeeId => one(&u.employee_id),
            Attr::Manager => one(u.manager.as_deref().unwrap_or("")),
            Attr::MemberOf => match &self.op {
                Op::IsEmpty => s.groups.is_empty(),
                Op::IsNotEmpty => !s.groups.is_empty(),
                Op::NotEquals(x) => !s.groups.iter().any(|g| fold(g) == fold(x)),
                _ => s.groups.iter().any(|g| one(g)),
            },
        }
    }
}

/// What a filter looks at: the user and the names of their groups.
pub struct Subject<'a> {
    pub user: &'a crate::directory::User,
    pub groups: &'a [String],
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether the filter keeps the user: some group whose every clause holds.
    pub fn keeps(&self, s: &Subject<'_>) -> bool {
        self.is_empty() || self.groups.iter().any(|g| g.iter().all(|c| c.holds(s)))
    }

    /// Whether any clause reads group membership (then callers load the groups).
    pub fn reads_groups(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|c| c.attr == Attr::MemberOf)
    }

    /// Parses the text form; the first bad line is named.
    pub fn parse(text: &str) -> Result<Filters, FilterError> {
        // Group numbers as written, in order of first appearance.
        let mut numbers: Vec<u32> = Vec::new();
        let mut groups: Vec<Vec<Clause>> = Vec::new();
        let mut count = 0;
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| FilterError {
                line: i + 1,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() > MAX_LINE {
                return Err(err(format!("longer than {MAX_LINE} characters")));
            }
            count += 1;
            if count > MAX_CLAUSES {
                return Err(err(format!("more than {MAX_CLAUSES} clauses")));
            }
            let (number, clause) = parse_line(line).map_err(err)?;
            match numbers.iter().position(|n| *n == number) {
                Some(at) => groups[at].push(clause),
                None => {
                    numbers.push(number);
                    groups.push(vec![clause]);
                }
            }
        }
        Ok(Filters { groups })
    }
}

/// `[group N:] attribute operator [value]`.
fn parse_line(line: &str) -> Result<(u32, Clause), String> {
    let (number, rest) = match strip_word(line, "group") {
        Some(after) => {
            let (n, rest) = after.split_once(':').ok_or_else(|| {
                "write the group as \"group 1: <attribute> <operator> <value>\"".to_string()
            })?;
            let n: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{:?} is not a group number (1, 2, …)", n.trim()))?;
            (n, rest.trim())
        }
        None => (1, line),
    };
    let (word, rest) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{rest:?} needs an operator and a value"))?;
    let attr = Attr::parse(word).ok_or_else(|| {
        let names: Vec<_> = Attr::ALL.iter().map(|a| a.as_str()).collect();
        format!(
            "unknown attribute {word:?} (attributes: {})",
            names.join(", ")
        )
    })?;
    let rest = rest.trim_start();
    let (op_word, value) = OPERATORS
        .iter()
        .find_map(|w| strip_word(rest, w).map(|v| (*w, v.trim())))
        .ok_or_else(|| {
            format!(
                "unknown operator in {rest:?} (operators: {})",
                OPERATORS.join(", ")
            )
        })?;
    let needs_value = !matches!(op_word, "is empty" | "is not empty");
    if needs_value && value.is_empty() {
        return Err(format!("{op_word:?} needs a value"));
    }
    if !needs_value && !value.is_empty() {
        return Err(format!("{op_word:?} takes no value (found {value:?})"));
    }
    let v = value.to_string();
    let op = match op_word {
        "equals" => Op::Equals(v),
        "not equals" => Op::NotEquals(v),
        "starts with" => Op::StartsWith(v),
        "is empty" => Op::IsEmpty,
        "is not empty" => Op::IsNotEmpty,
        "in" => {
            let list: Vec<String> = value
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect();
            if list.is_empty() {
                return Err("\"in\" needs a comma-separated list of values".into());
            }
            Op::In(list)
        }
        _ => Op::Matches(Pattern::new(value)?),
    };
    Ok((number, Clause { attr, op }))
}

/// `s` without a leading `word` (case-insensitive) followed by a space, a colon or the end.
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    let bounded = rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == ':');
    (head.eq_ignore_ascii_case(word) && bounded).then_some(rest)
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.attr.as_str();
        match &self.op {
            Op::Equals(v) => write!(f, "{a} equals {v}"),
            Op::NotEquals(v) => write!(f, "{a} not equals {v}"),
            Op::StartsWith(v) => write!(f, "{a} starts with {v}"),
            Op::IsEmpty => write!(f, "{a} is empty"),
            Op::IsNotEmpty => write!(f, "{a} is not empty"),
            Op::In(list) => write!(f, "{a} in {}", list.join(", ")),
            Op::Matches(p) => write!(f, "{a} matches {}", p.source),
        }
    }
}

/// The canonical text: every clause with its group, groups numbered from 1.
impl fmt::Display for Filters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (n, g) in self.groups.iter().enumerate() {
            for c in g {
                if !first {
                    writeln!(f)?;
                }
                first = false;
                write!(f, "group {}: {c}", n + 1)?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Filters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::User;

    fn user(name: &str, title: &str, email: &str) -> User {
        User {
            id: 1,
            username: name.into(),
            email: email.into(),
            first_name: String::new(),
            last_name: String::new(),
            title: title.into(),
            phone: String::new(),
            employee_id: String::new(),
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

    fn keeps(f: &Filters, u: &User, groups: &[&str]) -> bool {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        f.keeps(&Subject {
            user: u,
            groups: &groups,
        })
    }

    #[test]
    fn clauses_and_within_a_group_and_groups_or() {
        let f = Filters::parse(
            "group 1: title equals Engineer\n\
             group 1: member_of in Sales, Support\n\
             # contractors, whatever their groups\n\
             group 2: email matches @contractors\\.example$\n",
        )
        .unwrap();
        let eng = user("a", "engineer", "a@example.com");
        assert!(keeps(&f, &eng, &["support"]), "both clauses of group 1");
        assert!(!keeps(&f, &eng, &["Ops"]), "one clause of group 1 fails");
        let c = user("b", "", "b@contractors.example");
        assert!(keeps(&f, &c, &[]), "group 2 alone");
        assert!(Filters::default().keeps(&Subject {
            user: &c,
            groups: &[]
        }));
    }

    #[test]
    fn every_operator() {
        let u = user("alice", "Sales Lead", "alice@example.com");
        let t = |line: &str, groups: &[&str]| keeps(&Filters::parse(line).unwrap(), &u, groups);
        assert!(t("title equals sales lead", &[]));
        assert!(t("title not equals Engineer", &[]));
        assert!(t("title starts with sales", &[]));
        assert!(t("first_name is empty", &[]) && !t("first_name is not empty", &[]));
        assert!(t("manager is empty", &[]));
        assert!(t("username in bob, Alice", &[]) && !t("username in bob", &[]));
        assert!(t("email matches ^[a-z]+@example\\.com$", &[]));
        assert!(t("member_of is empty", &[]) && !t("member_of is empty", &["x"]));
        assert!(
            t("member_of not equals Ops", &["Sales"]) && !t("member_of not equals ops", &["Ops"])
        );
        assert!(t("member_of starts with Sal", &["Ops", "Sales"]));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = Filters::parse("title equals x\n\ngroup 2: department equals Sales").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("unknown attribute \"department\""),
            "{e}"
        );
        for (bad, says) in [
            ("title contains x", "unknown operator"),
            ("title equals", "needs a value"),
            ("title is empty now", "takes no value"),
            ("group x: title equals a", "not a group number"),
            ("group 1 title equals a", "write the group"),
            ("email matches (", "does not parse"),
            ("member_of in , ,", "comma-separated"),
        ] {
            let e = Filters::parse(bad).unwrap_err();
            assert!(e.to_string().contains(says) && e.line == 1, "{bad}: {e}");
        }
    }

    #[test]
    fn the_text_form_is_canonical_and_reads_back() {
        let f =
            Filters::parse("Title Equals A\ngroup 7: member-of in x,y\ngroup 1: email is empty")
                .unwrap();
        let text = f.to_string();
        assert_eq!(
            text,
            "group 1: title equals A\ngroup 1: email is empty\ngroup 2: member_of in x, y"
        );
        assert_eq!(Filters::parse(&text).unwrap(), f);
        assert!(f.reads_groups());
        assert_eq!(Filters::parse("").unwrap().to_string(), "");
    }
}
