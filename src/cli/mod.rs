//! The `sesame` command line (PRODUCT §3.5). Every command works on the same database as a
//! running `sesame serve`; bad input exits non-zero with a one-line reason; secrets come from
//! stdin or a prompt, never from arguments.

mod apps;
mod backup;
mod certs;
mod declare;
mod events;
mod groups;
mod import;
mod output;
mod scim;
mod smtp;
mod sources;
mod tokens;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::Db;

#[derive(Parser)]
#[command(
    name = "sesame",
    version,
    about = "Self-hosted SAML 2.0 identity provider with SCIM 2.0 provisioning"
)]
pub struct Cli {
    /// Config file (default: ./sesame.toml when present; or SESAME_CONFIG)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the IdP, the portal and the background workers
    Serve,
    /// Print the effective configuration (secrets redacted) and check it
    CheckConfig {
        #[arg(long)]
        json: bool,
    },
    /// Manage users
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage groups and their members
    #[command(subcommand)]
    Group(groups::GroupCommand),
    /// Manage applications and which groups may use them
    #[command(subcommand)]
    App(apps::AppCommand),
    /// Show the audit and provisioning events
    Events(events::EventsArgs),
    /// Identity Management: push the app's users to its SCIM endpoint
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// E-mail: the SMTP server sesame sends notifications, reset links and invitations through
    #[command(subcommand)]
    Smtp(smtp::SmtpCommand),
    /// Tokens for the JSON admin API (/api/v1)
    #[command(subcommand)]
    AdminToken(tokens::TokenCommand),
    /// Inbound SCIM sources: systems that provision users and groups into sesame (/scim/v2)
    #[command(subcommand)]
    ScimSource(sources::SourceCommand),
    /// Manage the IdP signing keys under certs_dir (generation and rollover)
    #[command(subcommand)]
    Cert(certs::CertCommand),
    /// Copy the database (consistently, while `serve` runs) and the key files into one
    /// archive (SQLite; for PostgreSQL see the README)
    Backup(backup::BackupArgs),
    /// Put a `sesame backup` archive back into the database path and certs_dir
    Restore(backup::RestoreArgs),
    /// Make the directory match a declaration file (apps, SSO and SCIM settings, groups,
    /// bindings, admins): show the plan, then apply it
    Apply(declare::ApplyArgs),
    /// Write apps, groups, bindings and admins as a declaration `apply` takes (no secrets)
    Export(declare::ExportArgs),
}

/// Parses the arguments, runs the command, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve));
    if !matches!(cli.command, Command::Serve) {
        quiet_on_closed_stdout();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// `sesame user list | head -1`: once the reader has gone, `println!` panics ("failed
/// printing to stdout: Broken pipe", Rust ignores SIGPIPE). A command's output has nowhere
/// left to go, so it ends there, quietly, with the status a shell gives a SIGPIPE death (141)
/// and without a panic message; any other panic is reported as usual.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

/// The error and its causes on one line: "cannot open the database: ...: ...".
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn init_tracing(serving: bool) {
    let default = if serving {
        "info,sqlx=warn,tower_sessions=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESAME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => crate::app::serve(config).await,
        Command::CheckConfig { json } => check_config(&config, json),
        Command::User(c) => users::run(&open(&config).await?, &config, c).await,
        Command::Group(c) => groups::run(&open(&config).await?, c).await,
        Command::App(c) => apps::run(&open(&config).await?, &config, c).await,
        Command::Cert(c) => certs::run(&open(&config).await?, &config, c).await,
        Command::Scim(c) => scim::run(&open(&config).await?, &config, c).await,
        Command::Smtp(c) => smtp::run(&open(&config).await?, &config, c).await,
        Command::AdminToken(c) => tokens::run(&open(&config).await?, c).await,
        Command::ScimSource(c) => sources::run(&open(&config).await?, &config.base_url, c).await,
        Command::Events(a) => events::run(&open(&config).await?, a).await,
        Command::Backup(a) => backup::backup(&config, a).await,
        Command::Restore(a) => backup::restore(&config, a).await,
        Command::Apply(a) => declare::apply(&config, a).await,
        Command::Export(a) => declare::export(&config, a).await,
    }
}

/// How long a CLI command waits for the database (the running server's writes are short;
/// a person at a terminal can wait longer than a browser should).
const CLI_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn open(config: &Config) -> anyhow::Result<Db> {
    crate::auth::password::set_min_len(config.password_min_length);
    Db::connect_with(&config.database_url, CLI_WAIT)
        .await
        .context("cannot open the database")
}

fn check_config(config: &Config, json: bool) -> anyhow::Result<()> {
    let shown = config.redacted();
    if json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    println!("listen                 = {}", shown.listen);
    println!("base_url               = {}", shown.base_url);
    println!("database_url           = {}", shown.database_url);
    println!("certs_dir              = {}", shown.certs_dir.display());
    println!(
        "session_lifetime       = {}s",
        shown.session_lifetime.as_secs()
    );
    println!("login_max_failures     = {}", shown.login.max_failures);
    println!("login_ip_max_failures  = {}", shown.login.ip_max_failures);
    println!("login_window           = {}s", shown.login.window.as_secs());
    println!(
        "login_lockout          = {}s",
        shown.login.lockout.as_secs()
    );
    let key = if shown.secret_key.is_empty() {
        format!(
            "(key file {})",
            shown.certs_dir.join("secrets.key").display()
        )
    } else {
        "REDACTED".to_string()
    };
    println!("secret_key             = {key}");
    println!("scim_concurrency       = {}", shown.scim_concurrency);
    println!(
        "scim_reconcile_every   = {}s",
        shown.scim_reconcile_every.as_secs()
    );
    println!(
        "database_wait          = {}s",
        shown.database_wait.as_secs()
    );
    println!("password_min_length    = {}", shown.password_min_length);
    let allow = &shown.metadata_fetch_allow;
    if allow.is_empty() {
        println!("metadata_fetch_allow   = (none: public addresses only)");
    } else {
        println!("metadata_fetch_allow   = {allow}");
    }
    match shown.metrics_listen {
        Some(addr) => println!("metrics_listen         = {addr}"),
        None => println!("metrics_listen         = (off)"),
    }
    let token = if shown.metrics_token.is_empty() {
        "(none: /metrics is not on listen)"
    } else {
        "REDACTED"
    };
    println!("metrics_token          = {token}");
    Ok(())
}

/// Reads a secret: the first line of stdin with `--*-stdin`, else a hidden prompt (twice)
/// on a terminal.
pub(crate) fn read_secret(from_stdin: bool, what: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read stdin")?;
        let s = line.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(!s.is_empty(), "no {what} on stdin");
        return Ok(s);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to prompt for the {what}: pass it on stdin with --password-stdin"
    );
    let first = rpassword::prompt_password(format!("New {what}: "))?;
    let second = rpassword::prompt_password(format!("New {what} again: "))?;
    anyhow::ensure!(first == second, "the two entries differ");
    Ok(first)
}
