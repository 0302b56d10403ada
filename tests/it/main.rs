//! One integration-test binary: the real server on a loopback port driven over HTTP, the
//! CLI as a subprocess, and the store on SQLite and PostgreSQL.

mod accessibility;
mod admin;
mod admin_browser;
mod api;
mod app_keys;
mod availability;
mod backup;
mod browser;
mod c14n_diff;
mod cli;
mod crash;
mod hostile;
mod mail;
mod malformed;
mod metrics;
mod mfa;
mod passkeys;
mod portal;
mod process;
mod provisioning;
mod saml;
mod scim_peer;
mod slo;
mod smtp_peer;
mod soak;
mod sp;
mod sso;
mod sso_encryption;
mod sso_security;
mod ssrf;
mod store;
mod support;
mod webdriver;
