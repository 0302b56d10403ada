//! Configuration as code: `sesame apply <file.toml>` declares apps (with their SSO and SCIM
//! settings), groups, bindings and admins; it plans (create, change, delete, or nothing)
//! and applies idempotently — a second apply plans nothing. `sesame export` writes the
//! directory in the same format, without secrets. Like a Terraform plan or an authentik
//! blueprint, with sesame's own operations doing the work: each applied step goes through
//! the domain function the console, API and CLI call, so it is checked the same way and
//! leaves its audit event, under the actor `apply:<file>`.

mod export;
mod file;
mod plan;

use std::path::Path;

use serde::Serialize;

pub use export::export;
pub use file::{AdminDecl, AppDecl, Declaration, GroupDecl, ScimDecl, SecretRef, SsoDecl};
pub use plan::{plan, Action};

use crate::directory::{apps, groups, users, Actor, DirectoryError};
use crate::saml::{rollover, settings};
use crate::scim::secret::SealKey;
use crate::scim::target;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeclareError {
    /// The file is wrong: the message names the line, key or declaration.
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Directory(DirectoryError),
}

impl DeclareError {
    /// A setting refused by the domain's checks, said of the declaration it is in.
    fn about(self, what: &str) -> Self {
        match self {
            DeclareError::Directory(DirectoryError::Invalid(m)) => {
                DeclareError::File(format!("{what}: {m}"))
            }
            other => other,
        }
    }
}

impl From<StoreError> for DeclareError {
    fn from(e: StoreError) -> Self {
        DeclareError::Directory(e.into())
    }
}

impl From<sqlx::Error> for DeclareError {
    fn from(e: sqlx::Error) -> Self {
        DeclareError::Directory(e.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Create,
    Change,
    Delete,
}

/// One thing to do: `what` names the object ("app wiki", "group eng"), `detail` the change.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: Kind,
    pub what: String,
    pub detail: String,
    #[serde(skip)]
    pub action: Action,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.steps.iter().filter(|s| s.kind == kind).count()
    }

    /// The plan as a person reads it: one line per step (`+` create, `~` change,
    /// `-` delete), then the totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let mark = match s.kind {
                Kind::Create => '+',
                Kind::Change => '~',
                Kind::Delete => '-',
            };
            out.push_str(&format!("{mark} {}", s.what));
            if !s.detail.is_empty() {
                out.push_str(&format!(": {}", s.detail));
            }
            out.push('\n');
        }
        if self.is_empty() {
            out.push_str("Nothing to do: the directory already matches the file.\n");
        } else {
            out.push_str(&format!(
                "Plan: {} to create, {} to change, {} to delete.\n",
                self.count(Kind::Create),
                self.count(Kind::Change),
                self.count(Kind::Delete)
            ));
        }
        out
    }
}

/// What applying needs besides the plan.
pub struct Applier<'a> {
    pub db: &'a Db,
    pub key: &'a SealKey,
    pub certs_dir: &'a Path,
    /// `apply:<file>` (CLI) or `apply:api (admin:<name>)`.
    pub actor: Actor,
}

/// How far applying got: steps done, and the first failure (with its step) if any. A
/// failure stops there; what was done stays done, and applying again continues.
#[derive(Debug, Default)]
pub struct Applied {
    pub done: usize,
    pub failed: Option<(Step, DirectoryError)>,
}

impl Applier<'_> {
    pub async fn apply(&self, plan: Plan) -> Applied {
        let mut applied = Applied::default();
        for s in plan.steps {
            match self.run(&s.action).await {
                Ok(()) => applied.done += 1,
                Err(e) => {
                    applied.failed = Some((s, e));
                    break;
                }
            }
        }
        applied
    }

    async fn run(&self, action: &Action) -> Result<(), DirectoryError> {
        let (db, actor) = (self.db, &self.actor);
        match action {
            Action::CreateAdmin(name, fields, password) => {
                users::add(db, actor, name, fields, password.as_ref()).await?;
            }
            Action::UpdateUser(name, fields) => {
                users::update(db, actor, name, fields).await?;
            }
            Action::CreateGroup(name, description) => {
                groups::add(db, actor, name, description).await?;
            }
            Action::DescribeGroup(name, description) => {
                groups::set_description(db, actor, name, description).await?;
            }
            Action::DeleteGroup(name) => groups::delete(db, actor, name).await?,
            Action::Member { group, user, add } => {
                groups::set_member(db, actor, group, user, *add).await?;
            }
            Action::CreateApp(slug, template, changes) => {
                apps::add(db, actor, slug, template, changes).await?;
            }
            Action::UpdateApp(slug, changes) => {
                apps::update(db, actor, slug, changes).await?;
            }
            Action::DeleteApp(slug) => {
                rollover::delete_app(db, self.certs_dir, actor, slug).await?;
            }
            Action::Sso(slug, changes) => {
                settings::update(db, actor, slug, changes).await?;
            }
            Action::Scim(slug, changes) => {
                target::update(db, self.key, actor, slug, changes).await?;
            }
            Action::Switch(slug, switch) => {
                target::set_state(db, actor, slug, *switch).await?;
            }
            Action::Bind { app, group, grant } => {
                apps::set_binding(db, actor, app, group, *grant).await?;
            }
            Action::Assign { app, user, grant } => {
                apps::set_assignment(db, actor, app, user, *grant).await?;
            }
        }
        Ok(())
    }
}
