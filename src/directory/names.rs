//! Parse-don't-validate newtypes for what admins type: usernames, emails, group names,
//! app slugs and colours. A value of one of these types is already known to be valid.

use std::fmt;

use super::DirectoryError;

fn invalid(msg: String) -> DirectoryError {
    DirectoryError::Invalid(msg)
}

/// A login name: 1–64 characters of `A–Z a–z 0–9 . _ @ + -`, starting with a letter or digit.
/// Unique case-insensitively (see [`Username::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
        if s.is_empty() || s.len() > 64 {
            return Err(invalid(format!(
                "username {s:?} must be 1 to 64 characters"
            )));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || !s.chars().all(ok_char) {
            return Err(invalid(format!(
                "username {s:?} may hold only letters, digits and . _ @ + - and must start with a letter or digit"
            )));
        }
        Ok(Username(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The case-folded form that uniqueness and lookups use.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address in the `local@domain` shape (RFC 5321 length limits); unique
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let bad = || {
            invalid(format!(
                "email {s:?} is not a valid address (expected name@domain)"
            ))
        };
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local.contains(['<', '>', '"', ',', ';'])
        {
            return Err(bad());
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
        let chars_ok = domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if domain.is_empty() || !labels_ok || !chars_ok {
            return Err(bad());
        }
        Ok(Email(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A group name: 1–100 printable characters, no surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        if s.is_empty()
            || s.chars().count() > 100
            || s.trim() != s
            || s.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "group name {s:?} must be 1 to 100 printable characters without surrounding spaces"
            )));
        }
        Ok(GroupName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Words a slug cannot be: they are route segments beside `{slug}` (`/admin/apps/new`) or
/// would read as one of sesame's own paths.
pub const RESERVED_SLUGS: [&str; 14] = [
    "new", "admin", "api", "static", "login", "logout", "account", "saml2", "logos", "metadata",
    "healthz", "readyz", "sso", "metrics",
];

/// An app's slug: `[a-z0-9-]{1,63}`, not starting or ending with `-`, not a reserved word;
/// fixed at creation because the SP has `{base_url}/saml2/{slug}` configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(invalid(format!(
                "slug {s:?} must be 1 to 63 characters of a-z, 0-9 and -"
            )));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(invalid(format!("slug {s:?} must not start or end with -")));
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(invalid(format!(
                "slug {s:?} is a word sesame uses in its own addresses; choose another"
            )));
        }
        Ok(Slug(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tile colour as `#rrggbb` (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(invalid(format!("colour {s:?} must look like #1a2b3c")));
        }
        Ok(Color(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text shown to people (names, titles, labels): bounded and without control characters.
pub fn text(field: &str, s: &str, max: usize) -> Result<String, DirectoryError> {
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be at most {max} characters without control characters"
        )));
    }
    Ok(s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Alice.B").unwrap().key(), "alice.b");
        for bad in ["", "-x", "a b", "ä", &"x".repeat(65), "a/b"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("A@Example.COM").unwrap().key(),
            "a@example.com"
        );
        assert!(Email::parse("admin@localhost").is_ok());
        for bad in [
            "", "a", "a@", "@b.c", "a@b..c", "a b@c.d", "a@-b.c", "a@b.c\n", "a<x>@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("bluejeans-2").is_ok());
        for bad in [
            "",
            "Blue",
            "a_b",
            "a.b",
            &"a".repeat(64),
            "é",
            "-a",
            "a-",
            "new",
            "admin",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert!(Slug::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn colors_and_groups() {
        assert_eq!(Color::parse("#AABBCC").unwrap().as_str(), "#aabbcc");
        assert!(Color::parse("red").is_err());
        assert!(GroupName::parse("Engineering").is_ok());
        assert!(GroupName::parse(" x").is_err());
        assert!(text("title", "a\u{7}", 10).is_err());
    }
}
