//! sesame: a self-hosted SAML 2.0 identity provider with a SCIM 2.0 provisioning bridge.
//!
//! - `directory`: users, groups, apps, bindings and the one access rule.
//! - `auth`: passwords, login throttling, CSRF, the portal session.
//! - `store`: the database (SQLite or PostgreSQL) and its migrations.
//! - `backup`: one archive of the SQLite database and the key files, and restoring it.
//! - `web`: the HTTP pages, thin over the above; `app`: the running server; `serve`: its
//!   listeners (HTTPS with certificate reload, the redirect to it, who is behind a proxy).
//! - `inbound`: sesame as a SCIM 2.0 server (`/scim/v2`), provisioned by sources.
//! - `cli`: the `sesame` command line.
//! - `telemetry`: Prometheus metrics (`/metrics`).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod declare;
pub mod directory;
pub mod error;
pub mod inbound;
pub mod mail;
pub mod saml;
pub mod scim;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod web;
