//! The SCIM bridge's tables, one file each: `targets` (per-app settings and state),
//! `links` (our user ↔ the target's user), `group_links` (pushed groups) and `jobs` (the
//! durable queue). Every SQL statement about them lives here.

mod group_links;
mod jobs;
mod links;
mod targets;

pub use group_links::*;
pub use jobs::*;
pub use links::*;
pub use targets::*;
