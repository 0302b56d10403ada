//! Attribute expressions (issue 16): the small language that SCIM attribute mappings and SAML
//! attribute statements share. Its function names and argument orders are Entra ID's
//! (`Join(separator, a, b, ...)`, `Switch(source, default, key, value, ...)`), so an admin can
//! carry a mapping over. Text is parsed once into an [`Expr`] and evaluated per user.
//!
//! Grammar: `expr = "text" | [attribute] | number | Name(expr, ...)`; `\"` and `\\` escape
//! inside quotes. Cheap checks come first: the length, then the nesting depth counted over the
//! raw text, so the recursive descent and the evaluation below never go deeper than
//! [`MAX_DEPTH`]. A missing or empty attribute is null: `Coalesce` skips it, `Join` leaves it
//! out, the text functions give null back, `Switch` gives its default.

use std::fmt;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::User;

/// The longest expression accepted, in bytes.
pub const MAX_LEN: usize = 1024;
/// The deepest nesting of function calls.
pub const MAX_DEPTH: usize = 16;

/// The user attributes an expression may read, as `[name]`.
pub const ATTRIBUTES: &[&str] = &[
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "title",
    "phone",
    "employee_id",
    "manager",
    "department",
    "cost_center",
    "location",
];

/// A function of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Join,
    Coalesce,
    ToLower,
    ToUpper,
    Left,
    Replace,
    Switch,
    NormalizeDiacritics,
    Append,
}

/// Each function's name and its argument count: exactly, or at least (`Join`, `Coalesce`,
/// `Switch`).
const FUNCS: &[(&str, Func, Arity)] = &[
    ("Join", Func::Join, Arity::AtLeast(2)),
    ("Coalesce", Func::Coalesce, Arity::AtLeast(1)),
    ("ToLower", Func::ToLower, Arity::Exactly(1)),
    ("ToUpper", Func::ToUpper, Arity::Exactly(1)),
    ("Left", Func::Left, Arity::Exactly(2)),
    ("Replace", Func::Replace, Arity::Exactly(3)),
    ("Switch", Func::Switch, Arity::Pairs),
    (
        "NormalizeDiacritics",
        Func::NormalizeDiacritics,
        Arity::Exactly(1),
    ),
    ("Append", Func::Append, Arity::Exactly(2)),
];

#[derive(Debug, Clone, Copy)]
enum Arity {
    Exactly(usize),
    AtLeast(usize),
    /// `Switch`: the source, the default, then one or more key/value pairs.
    Pairs,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Text(String),
    Number(usize),
    Attr(&'static str),
    Call(Func, Vec<Expr>),
}

/// Why an expression was refused, and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {pos})")]
pub struct ExprError {
    pub pos: usize,
    pub message: String,
}

impl Func {
    pub fn name(self) -> &'static str {
        FUNCS
            .iter()
            .find(|(_, f, _)| *f == self)
            .map_or("", |(n, _, _)| n)
    }
}

/// Parses `text` into an expression, checking attribute names and argument counts.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    if text.len() > MAX_LEN {
        return Err(err(1, format!("longer than {MAX_LEN} bytes")));
    }
    check_depth(text)?;
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { s: &chars, at: 0 };
    p.blank();
    if p.at == chars.len() {
        return Err(err(1, "an expression is required".into()));
    }
    let e = p.expr()?;
    p.blank();
    if p.at < chars.len() {
        return Err(err(p.at + 1, "unexpected text after the expression".into()));
    }
    Ok(e)
}

fn err(pos: usize, message: String) -> ExprError {
    ExprError { pos, message }
}

/// The nesting depth over the raw text, strings skipped: refused before any parsing.
fn check_depth(text: &str) -> Result<(), ExprError> {
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for (i, c) in text.chars().enumerate() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (true, false, _) => {}
            (false, _, '"') => quoted = true,
            (false, _, '(') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(err(i + 1, format!("nested deeper than {MAX_DEPTH} calls")));
                }
            }
            (false, _, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [char],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.at).copied()
    }

    fn blank(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.blank();
        let start = self.at + 1;
        match self.peek() {
            Some('"') => self.text(),
            Some('[') => self.attr(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.call(),
            Some(c) => Err(err(start, format!("unexpected {c:?}"))),
            None => Err(err(start, "the expression ends too early".into())),
        }
    }

    fn text(&mut self) -> Result<Expr, ExprError> {
        let start = self.at + 1;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(err(start, "a string is not closed with \"".into())),
                Some('"') => {
                    self.at += 1;
                    return Ok(Expr::Text(out));
                }
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => out.push(c),
                        _ => return Err(err(self.at, "only \\\" and \\\\ escape".into())),
                    }
                    self.at += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn attr(&mut self) -> Result<Expr, ExprError> {
        let start = self.at + 1;
        self.at += 1;
        let from = self.at;
        while self.peek().is_some_and(|c| c != ']') {
            self.at += 1;
        }
        if self.peek().is_none() {
            return Err(err(start, "an attribute is not closed with ]".into()));
        }
        let name: String = self.s[from..self.at].iter().collect();
        self.at += 1;
        let name = name.trim();
        ATTRIBUTES
            .iter()
            .find(|a| a.eq_ignore_ascii_case(name))
            .map(|a| Expr::Attr(a))
            .ok_or_else(|| {
                err(
                    start,
                    format!(
                        "unknown attribute [{name}] (known: {})",
                        ATTRIBUTES.join(", ")
                    ),
                )
            })
    }

    fn number(&mut self) -> Result<Expr, ExprError> {
        let start = self.at + 1;
        let from = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits: String = self.s[from..self.at].iter().collect();
        digits
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_LEN)
            .map(Expr::Number)
            .ok_or_else(|| err(start, format!("number {digits} is larger than {MAX_LEN}")))
    }

    fn call(&mut self) -> Result<Expr, ExprError> {
        let start = self.at + 1;
        let from = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        let name: String = self.s[from..self.at].iter().collect();
        let Some(&(canon, func, arity)) = FUNCS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<_> = FUNCS.iter().map(|(n, _, _)| *n).collect();
            return Err(err(
                start,
                format!("unknown function {name} (known: {})", names.join(", ")),
            ));
        };
        self.blank();
        if self.peek() != Some('(') {
            return Err(err(self.at + 1, format!("{canon} needs ( after its name")));
        }
        self.at += 1;
        let mut args = Vec::new();
        self.blank();
        if self.peek() == Some(')') {
            self.at += 1;
        } else {
            loop {
                args.push(self.expr()?);
                self.blank();
                match self.peek() {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(err(self.at + 1, format!("{canon}: expected , or )"))),
                }
            }
        }
        check_args(canon, func, arity, &args).map_err(|m| err(start, m))?;
        Ok(Expr::Call(func, args))
    }
}

fn check_args(name: &str, func: Func, arity: Arity, args: &[Expr]) -> Result<(), String> {
    let n = args.len();
    match arity {
        Arity::Exactly(k) if n != k => {
            return Err(format!("{name} expects {k} argument{}", plural(k)));
        }
        Arity::AtLeast(k) if n < k => {
            return Err(format!("{name} expects at least {k} argument{}", plural(k)));
        }
        Arity::Pairs if n < 4 || n % 2 != 0 => {
            return Err(format!(
                "{name} expects a source, a default, then key/value pairs"
            ));
        }
        _ => {}
    }
    if func == Func::Left && !matches!(args[1], Expr::Number(_)) {
        return Err(format!("{name}: the second argument must be a number"));
    }
    Ok(())
}

fn plural(k: usize) -> &'static str {
    if k == 1 {
        ""
    } else {
        "s"
    }
}

impl Expr {
    /// Evaluates against `lookup` (an attribute's value, `None` or "" when missing); `None`
    /// is null. Recursion is bounded by [`MAX_DEPTH`], checked when parsed.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let value = match self {
            Expr::Text(s) => Some(s.clone()),
            Expr::Number(n) => Some(n.to_string()),
            Expr::Attr(a) => lookup(a),
            Expr::Call(f, args) => call(*f, args, lookup),
        };
        value.filter(|v| !v.is_empty())
    }

    /// Whether the value depends on the user (some attribute is read).
    pub fn reads_attributes(&self) -> bool {
        match self {
            Expr::Attr(_) => true,
            Expr::Call(_, args) => args.iter().any(Expr::reads_attributes),
            _ => false,
        }
    }

    /// The value for `user`.
    pub fn eval_user(&self, user: &User) -> Option<String> {
        self.eval(&|name| attribute(user, name))
    }
}

/// A user attribute by its expression name; `None` when empty.
pub fn attribute(user: &User, name: &str) -> Option<String> {
    let v = match name {
        "username" => user.username.clone(),
        "email" => user.email.clone(),
        "first_name" => user.first_name.clone(),
        "last_name" => user.last_name.clone(),
        "display_name" => format!("{} {}", user.first_name, user.last_name)
            .trim()
            .to_string(),
        "title" => user.title.clone(),
        "phone" => user.phone.clone(),
        "employee_id" => user.employee_id.clone(),
        "manager" => user.manager.clone().unwrap_or_default(),
        "department" => user.department.clone(),
        "cost_center" => user.cost_center.clone(),
        "location" => user.location.clone(),
        _ => String::new(),
    };
    (!v.is_empty()).then_some(v)
}

fn call(f: Func, args: &[Expr], lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let arg = |i: usize| args.get(i).and_then(|a| a.eval(lookup));
    match f {
        Func::Join => {
            let sep = arg(0).unwrap_or_default();
            let parts: Vec<String> = args[1..].iter().filter_map(|a| a.eval(lookup)).collect();
            Some(parts.join(&sep))
        }
        Func::Coalesce => args.iter().find_map(|a| a.eval(lookup)),
        Func::ToLower => arg(0).map(|s| s.to_lowercase()),
        Func::ToUpper => arg(0).map(|s| s.to_uppercase()),
        Func::Left => {
            let n = match args.get(1) {
                Some(Expr::Number(n)) => *n,
                _ => 0,
            };
            arg(0).map(|s| s.chars().take(n).collect())
        }
        Func::Replace => {
            let (source, old) = (arg(0)?, arg(1));
            match old {
                Some(old) => Some(source.replace(&old, &arg(2).unwrap_or_default())),
                None => Some(source),
            }
        }
        Func::Switch => {
            let source = arg(0);
            let found = args[2..].chunks(2).find(|pair| {
                source.is_some() && pair.first().and_then(|k| k.eval(lookup)) == source
            });
            match found {
                Some(pair) => pair.get(1).and_then(|v| v.eval(lookup)),
                None => arg(1),
            }
        }
        Func::NormalizeDiacritics => arg(0).map(|s| normalize_diacritics(&s)),
        Func::Append => arg(0).map(|s| s + &arg(1).unwrap_or_default()),
    }
}

/// Letters without a decomposition under NFD (Latin only), spelled in ASCII.
const UNDECOMPOSED: &[(char, &str)] = &[
    ('ø', "o"),
    ('Ø', "O"),
    ('ł', "l"),
    ('Ł', "L"),
    ('đ', "d"),
    ('Đ', "D"),
    ('ħ', "h"),
    ('Ħ', "H"),
    ('ß', "ss"),
    ('æ', "ae"),
    ('Æ', "AE"),
    ('œ', "oe"),
    ('Œ', "OE"),
    ('þ', "th"),
    ('Þ', "TH"),
    ('ð', "d"),
    ('Ð', "D"),
    ('ı', "i"),
];

/// Canonical decomposition (NFD), combining marks dropped, then the few Latin letters that
/// carry their stroke in the letter itself spelled out.
pub fn normalize_diacritics(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd().filter(|c| !is_combining_mark(*c)) {
        match UNDECOMPOSED.iter().find(|(k, _)| *k == c) {
            Some((_, v)) => out.push_str(v),
            None => out.push(c),
        }
    }
    out
}

/// The canonical text of an expression (what is stored and shown).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Text(s) => write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Attr(a) => write!(f, "[{a}]"),
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
