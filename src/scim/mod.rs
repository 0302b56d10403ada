//! The SCIM 2.0 provisioning bridge (PRODUCT §3.4): per-app targets, the durable queue that
//! directory changes feed in their own transactions, the worker that pushes users to each
//! target, and the operations the CLI (and later the console) call.

pub mod client;
pub mod control;
pub mod engine;
pub mod filter;
pub mod groups;
pub mod inventory;
pub mod job;
pub mod mapping;
pub mod maps;
pub mod matching;
pub mod pace;
pub mod password;
pub mod preview;
pub mod probe;
pub(crate) mod replace;
pub mod scope;
pub mod secret;
pub mod sync;
pub mod target;
