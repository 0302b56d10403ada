//! CSV import of users (console, API `POST /api/v1/users/import`, `sesame user import`):
//! RFC 4180 text with a header row naming the columns. Each row is checked by the same rules
//! as a user created by hand, against the directory and the rows before it, so the dry run
//! says row by row what the import will do; the import then creates the rows that are
//! valid, puts them in their groups, and reports the others with their reason.

use std::collections::BTreeSet;

use serde::Serialize;

use super::users::{self, UserFields};
use super::{groups, Actor, DirectoryError};
use crate::store::{self, Db};

/// The columns an import file may have; `username` and `email` are required.
pub const COLUMNS: [&str; 12] = [
    "username",
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "employee_id",
    "manager",
    "department",
    "cost_center",
    "location",
    "groups",
];

/// The most rows one import takes.
pub const MAX_ROWS: usize = 10_000;

/// What happens to one row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowReport {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub username: String,
    /// `create` (or `created`), `exists` (left as it is) or `error`.
    pub outcome: String,
    /// Why, for an error; the groups joined, for a creation.
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub rows: Vec<RowReport>,
    pub created: usize,
    pub existing: usize,
    pub errors: usize,
    /// Whether anything was written (false for a dry run).
    pub applied: bool,
}

struct Row {
    line: usize,
    username: String,
    fields: UserFields,
    groups: Vec<String>,
}

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

/// The rows of `text`, each parsed or with the reason it cannot be; an unreadable header is
/// an error for the whole file.
/// A row that cannot be read: its line, username (if any) and the reason.
type Unreadable = (usize, String, String);

fn parse(text: &str) -> Result<Vec<Result<Row, Unreadable>>, DirectoryError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("the header row cannot be read: {e}")))?
        .iter()
        .map(|h| h.to_lowercase())
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(invalid(format!(
                "unknown column {h:?} (columns: {})",
                COLUMNS.join(", ")
            )));
        }
    }
    for required in ["username", "email"] {
        if !header.iter().any(|h| h == required) {
            return Err(invalid(format!("the header row has no {required} column")));
        }
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() >= MAX_ROWS {
            return Err(invalid(format!("at most {MAX_ROWS} rows per import")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err((line, String::new(), format!("cannot be read: {e}"))));
                continue;
            }
        };
        let get = |name: &str| {
            col(name)
                .and_then(|c| record.get(c))
                .unwrap_or("")
                .to_string()
        };
        let opt = |name: &str| col(name).map(|_| get(name)).filter(|v| !v.is_empty());
        let username = get("username");
        rows.push(Ok(Row {
            line,
            fields: UserFields {
                email: Some(get("email")),
                first_name: opt("first_name"),
                last_name: opt("last_name"),
                title: opt("title"),
                phone: opt("phone"),
                employee_id: opt("employee_id"),
                manager: opt("manager"),
                department: opt("department"),
                cost_center: opt("cost_center"),
                location: opt("location"),
                is_admin: Some(false),
            },
            groups: get("groups")
                .split(';')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            username,
        }));
    }
    Ok(rows)
}

/// Checks every row and, unless `dry_run`, creates the valid new users (without a password:
/// they cannot sign in until they set one, e.g. through an invitation) and joins their
/// groups. Existing usernames are left as they are.
pub async fn import(
    db: &Db,
    actor: &Actor,
    text: &str,
    dry_run: bool,
) -> Result<Report, DirectoryError> {
    let parsed = parse(text)?;
    // A manager may be any user of the file (created before their report is set).
    let in_file: BTreeSet<String> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.username.to_lowercase())
        .collect();
    let mut report = Report {
        applied: !dry_run,
        ..Report::default()
    };
    // Names and emails the rows before this one will create.
    let (mut names, mut emails) = (BTreeSet::new(), BTreeSet::new());
    let mut valid = Vec::new();
    for row in parsed {
        let row = match row {
            Ok(r) => r,
            Err((line, username, message)) => {
                report.rows.push(error(line, username, message));
                continue;
            }
        };
        match check(db, &row, (&names, &emails, &in_file)).await? {
            Check::Exists => report.rows.push(RowReport {
                line: row.line,
                username: row.username.clone(),
                outcome: "exists".into(),
                message: "a user of that name exists: left as it is".into(),
            }),
            Check::Refused(m) => report.rows.push(error(row.line, row.username.clone(), m)),
            Check::New => {
                names.insert(row.username.to_lowercase());
                emails.insert(row.fields.email.clone().unwrap_or_default().to_lowercase());
                report.rows.push(RowReport {
                    line: row.line,
                    username: row.username.clone(),
                    outcome: "create".into(),
                    message: row.groups.join(", "),
                });
                valid.push(row);
            }
        }
    }
    if !dry_run {
        create(db, actor, &valid, &mut report).await?;
    }
    report.created = report
        .rows
        .iter()
        .filter(|r| r.outcome.starts_with("create"))
        .count();
    report.existing = report.rows.iter().filter(|r| r.outcome == "exists").count();
    report.errors = report.rows.iter().filter(|r| r.outcome == "error").count();
    Ok(report)
}

fn error(line: usize, username: String, message: String) -> RowReport {
    RowReport {
        line,
        username,
        outcome: "error".into(),
        message,
    }
}

enum Check {
    New,
    Exists,
    Refused(String),
}

/// The row against the rules of a new user, the directory, and the rows before it (its
/// manager may be any user of the file).
async fn check(
    db: &Db,
    row: &Row,
    (names, emails, in_file): (&BTreeSet<String>, &BTreeSet<String>, &BTreeSet<String>),
) -> Result<Check, DirectoryError> {
    let key = row.username.to_lowercase();
    if names.contains(&key) {
        return Ok(Check::Refused("the username is in the file twice".into()));
    }
    let email = row.fields.email.clone().unwrap_or_default().to_lowercase();
    if emails.contains(&email) {
        return Ok(Check::Refused(format!(
            "email {email:?} is in the file twice"
        )));
    }
    let mut fields = row.fields.clone();
    let manager_in_file = fields
        .manager
        .as_ref()
        .is_some_and(|m| in_file.contains(&m.to_lowercase()));
    if manager_in_file {
        fields.manager = None;
    }
    let mut conn = db.read().await?;
    if store::users::by_key(&mut conn, &key).await?.is_some() {
        return Ok(Check::Exists);
    }
    if let Err(e) = users::check_new(&mut conn, &row.username, &fields).await {
        return Ok(Check::Refused(e.to_string()));
    }
    for g in &row.groups {
        if store::groups::by_key(&mut conn, &g.to_lowercase())
            .await?
            .is_none()
        {
            return Ok(Check::Refused(format!("group {g:?} does not exist")));
        }
    }
    Ok(Check::New)
}

/// Creates the checked rows: users first (managers may come later in the file), then their
/// managers and groups. A row refused now (a change made meanwhile) becomes an error.
async fn create(
    db: &Db,
    actor: &Actor,
    rows: &[Row],
    report: &mut Report,
) -> Result<(), DirectoryError> {
    let mark = |report: &mut Report, line: usize, outcome: &str, message: String| {
        if let Some(r) = report.rows.iter_mut().find(|r| r.line == line) {
            r.outcome = outcome.into();
            r.message = message;
        }
    };
    let mut made = Vec::new();
    for row in rows {
        let fields = UserFields {
            manager: None,
            ..row.fields.clone()
        };
        match users::add(db, actor, &row.username, &fields, None).await {
            Ok(_) => made.push(row),
            Err(e @ (DirectoryError::Invalid(_) | DirectoryError::Duplicate(_))) => {
                mark(report, row.line, "error", e.to_string())
            }
            Err(e) => return Err(e),
        }
    }
    for row in made {
        let mut joined = Vec::new();
        let mut notes = Vec::new();
        if let Some(m) = &row.fields.manager {
            let f = UserFields {
                manager: Some(m.clone()),
                ..UserFields::default()
            };
            // A manager whose own row was refused: the user stays, without one.
            if let Err(e) = users::update(db, actor, &row.username, &f).await {
                notes.push(format!("manager not set: {e}"));
            }
        }
        for g in &row.groups {
            groups::set_member(db, actor, g, &row.username, true).await?;
            joined.push(g.clone());
        }
        if !joined.is_empty() {
            notes.insert(0, format!("joined {}", joined.join(", ")));
        }
        let message = notes.join("; ");
        mark(report, row.line, "created", message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_known_columns_and_rows_keep_their_line() {
        let e = parse("user,email\n").err().unwrap().to_string();
        assert!(e.contains("unknown column \"user\""), "{e}");
        let e = parse("username,first_name\n").err().unwrap().to_string();
        assert!(e.contains("no email column"), "{e}");
        let rows =
            parse("Username,Email,groups\nana,ana@x.org,eng; ops\n\"bo, b\",b@x.org,\n").unwrap();
        let first = rows[0].as_ref().ok().unwrap();
        assert_eq!(
            (first.line, first.groups.clone()),
            (2, vec!["eng".to_string(), "ops".into()])
        );
        assert_eq!(rows[1].as_ref().ok().unwrap().username, "bo, b");
        let ragged = parse("username,email\nana\n").unwrap();
        assert!(ragged[0].is_err());
    }
}
