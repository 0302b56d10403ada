//! `sesame user ...`

use clap::{Args, Subcommand};

use super::output::{json, table, yes_no};
use crate::auth::password::Password;
use crate::directory::users::{self, UserFields};
use crate::directory::Actor;
use crate::store::Db;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        username: String,
        #[command(flatten)]
        fields: FieldArgs,
        /// Read the password from the first line of stdin (without it, the user cannot
        /// sign in until `user passwd`)
        #[arg(long)]
        password_stdin: bool,
        /// The password is temporary: the user must choose a new one at first sign-in
        /// (what the console and the API do by default)
        #[arg(long, requires = "password_stdin")]
        temporary: bool,
        /// Send an invitation instead of setting a password: a link (valid 7 days) to the
        /// user's e-mail address to choose their own (SMTP must be set up: `sesame smtp set`)
        #[arg(long, conflicts_with_all = ["password_stdin", "temporary"])]
        invite: bool,
    },
    /// Send (again) the invitation: a new link to choose a password; earlier ones stop working
    Invite { username: String },
    /// Create users from a CSV file (a dry run first shows what each row would do)
    Import(super::import::ImportArgs),
    /// Lift the lock that repeated failed sign-ins put on an account
    Unlock { username: String },
    /// Remove a user's second factors (a lost phone): passkeys, authenticator app and
    /// recovery codes
    ResetMfa { username: String },
    /// Sign a user out of every session (a stolen laptop)
    SignOut { username: String },
    /// Who must have a second factor at sign-in: show it, or set it
    MfaPolicy {
        /// optional | admins | everyone
        #[arg(long, value_name = "POLICY")]
        set: Option<String>,
    },
    /// Change a user's profile fields (an empty value clears a field)
    Set {
        username: String,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Set a user's password (prompted, or the first line of stdin)
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Suspend a user: no sign-in, no SSO, sessions end
    Suspend { username: String },
    /// Reactivate a suspended user
    Activate { username: String },
    /// Delete a user
    Delete { username: String },
    /// List users
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one user, with groups and apps
    Show {
        username: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct FieldArgs {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    first_name: Option<String>,
    #[arg(long)]
    last_name: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    employee_id: Option<String>,
    /// The manager's username
    #[arg(long)]
    manager: Option<String>,
    #[arg(long)]
    department: Option<String>,
    #[arg(long)]
    cost_center: Option<String>,
    #[arg(long)]
    location: Option<String>,
    /// Make (true) or unmake (false) the user an admin of sesame
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    admin: Option<bool>,
}

impl From<FieldArgs> for UserFields {
    fn from(a: FieldArgs) -> Self {
        UserFields {
            email: a.email,
            first_name: a.first_name,
            last_name: a.last_name,
            title: a.title,
            phone: a.phone,
            employee_id: a.employee_id,
            manager: a.manager,
            department: a.department,
            cost_center: a.cost_center,
            location: a.location,
            is_admin: a.admin,
        }
    }
}

pub async fn run(db: &Db, config: &crate::config::Config, cmd: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add {
            username,
            fields,
            password_stdin: _,
            temporary: _,
            invite: true,
        } => {
            let key = config.seal_key()?;
            let fields = fields.into();
            let u =
                crate::auth::invite::create(db, &key, &config.base_url, &actor, &username, &fields)
                    .await?;
            println!(
                "created user {}; invitation queued (the running server sends it)",
                u.username
            );
        }
        UserCommand::Import(a) => super::import::run(db, config, a).await?,
        UserCommand::Invite { username } => {
            let key = config.seal_key()?;
            crate::auth::invite::send(db, &key, &config.base_url, &actor, &username).await?;
            println!("invitation queued for {username} (the running server sends it)");
        }
        UserCommand::Add {
            username,
            fields,
            password_stdin,
            temporary,
            invite: false,
        } => {
            let password = if password_stdin {
                Some(Password::new(super::read_secret(true, "password")?)?)
            } else {
                None
            };
            let u = users::add_with(
                db,
                &actor,
                &username,
                &fields.into(),
                password.as_ref(),
                temporary,
            )
            .await?;
            println!("created user {}", u.username);
        }
        UserCommand::Set { username, fields } => {
            let u = users::update(db, &actor, &username, &fields.into()).await?;
            println!("updated user {}", u.username);
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            users::get(db, &username).await?;
            let password = Password::new(super::read_secret(password_stdin, "password")?)?;
            let key = config.seal_key()?;
            users::set_password(db, &key, &actor, &username, &password, false).await?;
            println!("password set for {username}");
        }
        UserCommand::Unlock { username } => {
            if users::unlock(db, &actor, &username).await? {
                println!("unlocked {username}");
            } else {
                println!("{username} was not locked");
            }
        }
        UserCommand::ResetMfa { username } => {
            if crate::auth::mfa::remove(db, &actor, &username).await? {
                println!("removed {username}'s second factors");
            } else {
                println!("{username} had no second factor");
            }
        }
        UserCommand::SignOut { username } => {
            let n = users::sign_out_everywhere(db, &actor, &username).await?;
            println!("signed {username} out of {n} session(s)");
        }
        UserCommand::MfaPolicy { set } => {
            use crate::auth::mfa::{self, Policy};
            if let Some(name) = set {
                let p = Policy::parse(&name).ok_or_else(|| {
                    anyhow::anyhow!("{name:?} is not a policy: optional, admins or everyone")
                })?;
                mfa::set_policy(db, &actor, p).await?;
            }
            println!("{}", mfa::policy(db).await?.name());
        }
        UserCommand::Suspend { username } => {
            users::set_active(db, &actor, &username, false).await?;
            println!("suspended {username}");
        }
        UserCommand::Activate { username } => {
            users::set_active(db, &actor, &username, true).await?;
            println!("activated {username}");
        }
        UserCommand::Delete { username } => {
            users::delete(db, &actor, &username).await?;
            println!("deleted user {username}");
        }
        UserCommand::List { json: as_json } => {
            let list = users::list(db).await?;
            if as_json {
                return json(&list);
            }
            let rows = list
                .into_iter()
                .map(|u| {
                    let name = format!("{} {}", u.first_name, u.last_name)
                        .trim()
                        .to_string();
                    let status = if u.active { "active" } else { "suspended" };
                    vec![u.username, u.email, name, status.into(), yes_no(u.is_admin)]
                })
                .collect();
            table(&["username", "email", "name", "status", "admin"], rows);
        }
        UserCommand::Show {
            username,
            json: as_json,
        } => {
            let d = users::show(db, &username).await?;
            if as_json {
                return json(&d);
            }
            let u = &d.user;
            let fields = [
                ("username", u.username.clone()),
                ("email", u.email.clone()),
                ("first name", u.first_name.clone()),
                ("last name", u.last_name.clone()),
                ("title", u.title.clone()),
                ("phone", u.phone.clone()),
                ("employee id", u.employee_id.clone()),
                ("manager", u.manager.clone().unwrap_or_default()),
                ("department", u.department.clone()),
                ("cost center", u.cost_center.clone()),
                ("location", u.location.clone()),
                (
                    "status",
                    if u.active { "active" } else { "suspended" }.into(),
                ),
                ("admin", yes_no(u.is_admin)),
                (
                    "2nd factor",
                    if d.mfa.any() {
                        format!(
                            "{}{} passkey(s), {} recovery code(s) left",
                            if d.mfa.totp {
                                "authenticator app, "
                            } else {
                                ""
                            },
                            d.mfa.passkeys,
                            d.mfa.recovery_codes_left
                        )
                    } else {
                        "none".into()
                    },
                ),
                ("groups", d.groups.join(", ")),
                ("apps", d.apps.join(", ")),
            ];
            for (k, v) in fields {
                println!("{k:<12} {v}");
            }
        }
    }
    Ok(())
}
