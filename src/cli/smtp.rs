//! `sesame smtp ...`: the SMTP settings and a test mail, as the console's Settings › E-mail
//! page and `/api/v1/settings/smtp` do. The password comes from stdin or a prompt.

use clap::Subcommand;

use super::{output, read_secret};
use crate::config::Config;
use crate::directory::Actor;
use crate::mail::settings::{self, SmtpView};
use crate::mail::{outbox, SmtpChanges};
use crate::scim::secret::Secret;
use crate::store::Db;

#[derive(Subcommand)]
pub enum SmtpCommand {
    /// Change the SMTP settings (options left out keep their value)
    Set {
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
        /// starttls (port 587), tls (port 465), or none (a loopback host only, unless
        /// --allow-plain)
        #[arg(long)]
        security: Option<String>,
        /// Allow security none to a host that is not loopback (mail and password in clear)
        #[arg(long)]
        allow_plain: Option<bool>,
        #[arg(long)]
        username: Option<String>,
        /// Read the password from stdin (else a prompt when --username is given)
        #[arg(long)]
        password_stdin: bool,
        /// Remove the stored password (and username)
        #[arg(long, conflicts_with = "password_stdin")]
        no_auth: bool,
        /// The sender: sesame@example.com or "Sesame <sesame@example.com>"
        #[arg(long)]
        from: Option<String>,
        /// Mail a daily digest of provisioning failures here ("" for none)
        #[arg(long, value_name = "ADDRESS")]
        digest_to: Option<String>,
    },
    /// Show the settings (never the password)
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Send a test mail now and say whether the server took it
    Test {
        #[arg(long)]
        to: String,
    },
}

pub async fn run(db: &Db, config: &Config, c: SmtpCommand) -> anyhow::Result<()> {
    let key = config.seal_key()?;
    match c {
        SmtpCommand::Set {
            host,
            port,
            security,
            allow_plain,
            username,
            password_stdin,
            no_auth,
            from,
            digest_to,
        } => {
            let (username, password) = if no_auth {
                (Some(String::new()), Some(Secret::new("")))
            } else if password_stdin || username.is_some() {
                let p = read_secret(password_stdin, "SMTP password")?;
                (username, Some(Secret::new(p)))
            } else {
                (None, None)
            };
            let changes = SmtpChanges {
                host,
                port,
                security,
                username,
                password,
                from,
                allow_plain,
                digest_to,
            };
            let s = settings::update(db, &key, &Actor::cli(), &changes).await?;
            print(&SmtpView::from(&s));
        }
        SmtpCommand::Show { json } => {
            let s = settings::load(db).await?;
            if json {
                output::json(&SmtpView::from(&s))?;
            } else {
                print(&SmtpView::from(&s));
            }
        }
        SmtpCommand::Test { to } => {
            let to = crate::mail::check_address(&to)?;
            outbox::send_test_now(db, &key, &config.base_url, &to, &Actor::cli().0).await?;
            println!("test mail accepted by the SMTP server for {to}");
        }
    }
    Ok(())
}

fn print(v: &SmtpView) {
    let rows = vec![
        vec!["configured".into(), output::yes_no(v.configured)],
        vec!["host".into(), v.host.clone()],
        vec!["port".into(), v.port.to_string()],
        vec!["security".into(), v.security.as_str().into()],
        vec!["allow_plain".into(), output::yes_no(v.allow_plain)],
        vec!["username".into(), v.username.clone()],
        vec![
            "password".into(),
            if v.password_set {
                "set (write-only)"
            } else {
                "not set"
            }
            .into(),
        ],
        vec!["from".into(), v.from.clone()],
        vec!["digest_to".into(), v.digest_to.clone()],
    ];
    output::table(&["setting", "value"], rows);
}
