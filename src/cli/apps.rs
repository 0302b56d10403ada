//! `sesame app ...`

use anyhow::Context;
use clap::{Args, Subcommand};

use super::output::{json, table, yes_no};
use crate::config::Config;
use crate::directory::apps::{self, AppChanges};
use crate::directory::Actor;
use crate::saml::encrypt::SpEncryptionCert;
use crate::saml::keys::{KeyScope, KeySet};
use crate::saml::settings::{self, SsoChanges};
use crate::saml::{fetch, metadata};
use crate::store::Db;

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an app from a catalog template; the slug is fixed for good
    Add {
        slug: String,
        /// generic | bluejeans | thousandeyes | jive
        #[arg(long)]
        template: String,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Change an app's portal settings
    Set {
        slug: String,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Let the members of a group use the app
    Grant { slug: String, group: String },
    /// Stop a group's members from using the app
    Revoke { slug: String, group: String },
    /// Let users use the app directly, beside its groups
    Assign {
        slug: String,
        #[arg(required = true)]
        usernames: Vec<String>,
    },
    /// Take users' direct assignment back (a group may still give them the app)
    Unassign {
        slug: String,
        #[arg(required = true)]
        usernames: Vec<String>,
    },
    /// List apps
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one app and its groups
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an app
    Delete { slug: String },
    /// Configure SAML single sign-on for the app
    Sso(Box<SsoArgs>),
    /// Fill the SP entity id, ACS URLs and certificates from the SP's metadata (file or URL)
    ImportMetadata { slug: String, source: String },
    /// Print the certificate.pem to give the SP
    Cert { slug: String },
    /// Set the tile's logo from a PNG or SVG file (at most 64 KiB), or remove it
    Logo {
        slug: String,
        #[arg(required_unless_present = "remove")]
        file: Option<std::path::PathBuf>,
        #[arg(long, conflicts_with = "file")]
        remove: bool,
    },
}

#[derive(Args)]
pub struct SsoArgs {
    slug: String,
    #[arg(long)]
    sp_entity_id: Option<String>,
    /// An Assertion Consumer Service URL; repeat for several (the first is the default).
    /// Given at all, the list replaces the registered one.
    #[arg(long = "acs-url")]
    acs_urls: Vec<String>,
    /// email | persistent | unspecified | transient
    #[arg(long)]
    nameid_format: Option<String>,
    /// email | username | employee-id | persistent-id
    #[arg(long)]
    nameid_source: Option<String>,
    /// Default RelayState for IdP-initiated SSO (the SP's "Target URL")
    #[arg(long)]
    relay_state: Option<String>,
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    sign_response: Option<bool>,
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    require_signed_requests: Option<bool>,
    /// Accept SHA-1 signatures on this SP's requests (legacy SPs only)
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    allow_sha1: Option<bool>,
    /// Sign-ins to this app need a second factor (authenticator app)
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    require_mfa: Option<bool>,
    /// PEM file with the SP's signing certificate(s)
    #[arg(long, value_name = "PEM-FILE")]
    sp_cert: Option<std::path::PathBuf>,
    /// Encrypt assertions to the SP: aes256-gcm, legacy (AES-128-CBC, only for SPs without
    /// AES-GCM) or off
    #[arg(long, value_name = "aes256-gcm|legacy|off")]
    encryption: Option<String>,
    /// PEM file with the SP's encryption certificate (RSA, at least 2048 bits, valid now)
    #[arg(long, value_name = "PEM-FILE")]
    encryption_cert: Option<std::path::PathBuf>,
    /// Remove the SP's encryption certificate
    #[arg(long, conflicts_with = "encryption_cert")]
    remove_encryption_cert: bool,
    /// Override the IdP entity id (default: the IdP URL)
    #[arg(long)]
    idp_entity_id: Option<String>,
    /// An attribute to send, NAME=SOURCE (sources: email, username, first-name, last-name,
    /// display-name, title, phone, employee-id, manager, groups) or NAME=EXPRESSION
    /// ('displayName=Join(" ", [first_name], [last_name])'); repeat for several. Given at
    /// all, the list replaces the mapping. Email is always sent.
    #[arg(long = "attribute", value_name = "NAME=SOURCE")]
    attributes: Vec<String>,
    /// Go back to the default attributes (email, firstName, lastName)
    #[arg(long, conflicts_with = "attributes")]
    default_attributes: bool,
    /// The SP's Single Logout URL ("" removes it: the SP is not told of logouts)
    #[arg(long)]
    slo_url: Option<String>,
    /// Where the SP takes LogoutResponses, when not at its Single Logout URL
    #[arg(long)]
    slo_response_url: Option<String>,
    /// redirect | post: the binding the SP's Single Logout URL takes
    #[arg(long)]
    slo_binding: Option<String>,
}

#[derive(Args)]
pub struct SettingArgs {
    #[arg(long)]
    label: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Tile colour, #rrggbb
    #[arg(long)]
    color: Option<String>,
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    show_in_portal: Option<bool>,
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    enabled: Option<bool>,
    /// Switch SSO off (no tile, sign-ins refused) or on; provisioning is not affected
    #[arg(long, value_name = "true|false", value_parser = clap::builder::BoolishValueParser::new())]
    sso_enabled: Option<bool>,
}

impl From<SettingArgs> for AppChanges {
    fn from(a: SettingArgs) -> Self {
        AppChanges {
            label: a.label,
            description: a.description,
            color: a.color,
            show_in_portal: a.show_in_portal,
            enabled: a.enabled,
            sso_enabled: a.sso_enabled,
        }
    }
}

/// Prints an app's SAML settings and the values to give its SP.
async fn print_sso(db: &Db, config: &Config, slug: &str) -> anyhow::Result<()> {
    let (app, s) = settings::get(db, slug).await?;
    let base = &config.base_url;
    println!(
        "IdP URL (SSO, both bindings)  {}",
        settings::sso_url(base, &app.slug)
    );
    println!(
        "IdP entity id                 {}",
        settings::idp_entity_id(base, &app.slug, &s)
    );
    println!(
        "IdP Single Logout URL         {}/slo",
        settings::sso_url(base, &app.slug)
    );
    println!(
        "IdP metadata                  {}/metadata",
        settings::sso_url(base, &app.slug)
    );
    println!("SP entity id                  {}", s.sp_entity_id);
    for (i, url, default) in &s.acs {
        println!(
            "ACS [{i}]{}                     {url}",
            if *default { "*" } else { " " }
        );
    }
    println!(
        "NameID                        {} from {}",
        s.nameid_format, s.nameid_source
    );
    let attrs = crate::saml::attributes::items(&crate::saml::attributes::decode(&s.attributes));
    println!("attributes                    {}", attrs.join(" "));
    println!("default RelayState            {}", s.relay_state);
    println!("sign response too             {}", yes_no(s.sign_response));
    println!(
        "require signed requests       {}",
        yes_no(s.require_signed_requests)
    );
    println!("require a second factor       {}", yes_no(s.require_mfa));
    println!("SP certificates               {}", s.sp_cert_count());
    let slo = match (s.slo.url.as_str(), s.slo.response_url.as_str()) {
        ("", _) => "none (the SP is not told of logouts)".to_string(),
        (u, "") => format!("{u} ({})", s.slo.binding),
        (u, r) => format!("{u} ({}), responses to {r}", s.slo.binding),
    };
    println!("SP Single Logout              {slo}");
    println!(
        "encryption                    {} ({})",
        s.encryption,
        s.encryption.describe()
    );
    if let Ok(c) = SpEncryptionCert::load(&s.sp_encryption_cert) {
        println!(
            "SP encryption certificate     {}",
            c.summary(chrono::Utc::now())
        );
    }
    Ok(())
}

/// SP metadata from a file, or from an http(s) URL (public addresses only, unless
/// `metadata_fetch_allow` says otherwise; see `saml::fetch`).
async fn read_source(source: &str, config: &Config) -> anyhow::Result<String> {
    if source.starts_with("https://") || source.starts_with("http://") {
        return Ok(fetch::sp_metadata(source, &config.metadata_fetch_allow).await?);
    }
    std::fs::read_to_string(source).with_context(|| format!("cannot read {source}"))
}

pub async fn run(db: &Db, config: &Config, cmd: AppCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        AppCommand::Add {
            slug,
            template,
            settings,
        } => {
            let app = apps::add(db, &actor, &slug, &template, &settings.into()).await?;
            println!(
                "created app {} ({}) — IdP URL path /saml2/{}",
                app.slug, app.label, app.slug
            );
        }
        AppCommand::Set { slug, settings } => {
            apps::update(db, &actor, &slug, &settings.into()).await?;
            println!("updated app {slug}");
        }
        AppCommand::Grant { slug, group } => {
            let changed = apps::set_binding(db, &actor, &slug, &group, true).await?;
            let note = if changed { "" } else { " (already granted)" };
            println!("group {group} may use {slug}{note}");
        }
        AppCommand::Revoke { slug, group } => {
            let changed = apps::set_binding(db, &actor, &slug, &group, false).await?;
            let note = if changed { "" } else { " (was not granted)" };
            println!("group {group} no longer uses {slug}{note}");
        }
        AppCommand::Assign { slug, usernames } => {
            for u in usernames {
                let changed = apps::set_assignment(db, &actor, &slug, &u, true).await?;
                let note = if changed { "" } else { " (already assigned)" };
                println!("{u} is assigned to {slug}{note}");
            }
        }
        AppCommand::Unassign { slug, usernames } => {
            for u in usernames {
                let changed = apps::set_assignment(db, &actor, &slug, &u, false).await?;
                let note = if changed { "" } else { " (was not assigned)" };
                println!("{u} is no longer assigned to {slug}{note}");
            }
        }
        AppCommand::List { json: as_json } => {
            let list = apps::list(db).await?;
            if as_json {
                return json(&list);
            }
            let rows = list
                .into_iter()
                .map(|a| {
                    vec![
                        a.slug,
                        a.label,
                        a.template,
                        yes_no(a.enabled),
                        yes_no(a.show_in_portal),
                    ]
                })
                .collect();
            table(&["slug", "label", "template", "enabled", "in portal"], rows);
        }
        AppCommand::Show {
            slug,
            json: as_json,
        } => {
            let d = apps::show(db, &slug).await?;
            if as_json {
                return json(&d);
            }
            let a = &d.app;
            println!("slug            {}", a.slug);
            println!("label           {}", a.label);
            println!("description     {}", a.description);
            println!("template        {}", a.template);
            println!("color           {}", a.color);
            println!("enabled         {}", yes_no(a.enabled));
            println!("show in portal  {}", yes_no(a.show_in_portal));
            println!("groups          {}", d.groups.join(", "));
        }
        AppCommand::Delete { slug } => {
            crate::saml::rollover::delete_app(db, &config.certs_dir, &actor, &slug).await?;
            println!("deleted app {slug}");
        }
        AppCommand::Sso(a) => {
            let sp_certs_pem = match &a.sp_cert {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                ),
                None => None,
            };
            let sp_encryption_cert_pem = match &a.encryption_cert {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                ),
                None => a.remove_encryption_cert.then(String::new),
            };
            let changes = SsoChanges {
                sp_entity_id: a.sp_entity_id,
                acs_urls: (!a.acs_urls.is_empty()).then_some(a.acs_urls),
                acs_indexes: None,
                nameid_format: a.nameid_format,
                nameid_source: a.nameid_source,
                relay_state: a.relay_state,
                sign_response: a.sign_response,
                require_signed_requests: a.require_signed_requests,
                allow_sha1: a.allow_sha1,
                require_mfa: a.require_mfa,
                sp_certs_pem,
                idp_entity_id: a.idp_entity_id,
                attributes: if a.default_attributes {
                    Some(Vec::new())
                } else {
                    (!a.attributes.is_empty()).then_some(a.attributes)
                },
                slo_url: a.slo_url,
                slo_response_url: a.slo_response_url,
                slo_binding: a.slo_binding,
                encryption: a.encryption,
                sp_encryption_cert_pem,
            };
            settings::update(db, &actor, &a.slug, &changes).await?;
            print_sso(db, config, &a.slug).await?;
        }
        AppCommand::ImportMetadata { slug, source } => {
            apps::get(db, &slug).await?;
            let xml = read_source(&source, config).await?;
            let changes = metadata::parse_sp_metadata(&xml)?;
            settings::update(db, &actor, &slug, &changes).await?;
            println!("imported SP metadata from {source}");
            print_sso(db, config, &slug).await?;
        }
        AppCommand::Logo { slug, file, remove } => {
            let bytes = match (&file, remove) {
                (Some(f), false) => {
                    Some(std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?)
                }
                _ => None,
            };
            let app = apps::set_logo(db, &actor, &slug, bytes.as_deref()).await?;
            if app.logo_type.is_empty() {
                println!("removed the logo of {slug}");
            } else {
                println!("set the logo of {slug} ({})", app.logo_type);
            }
        }
        AppCommand::Cert { slug } => {
            apps::get(db, &slug).await?;
            let own = KeySet::load(&KeyScope::App(slug.clone()).dir(&config.certs_dir))?;
            let keys = own.or(KeySet::load(&config.certs_dir)?).ok_or_else(|| {
                anyhow::anyhow!(
                    "no signing key in {} yet: run `sesame cert generate` or start `sesame serve`",
                    config.certs_dir.display()
                )
            })?;
            print!("{}", keys.active.cert_pem);
        }
    }
    Ok(())
}
