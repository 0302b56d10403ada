//! `sesame app ...`

use clap::{Args, Subcommand};

use super::output::{json, table, yes_no};
use crate::directory::apps::{self, AppChanges};
use crate::directory::Actor;
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
}

impl From<SettingArgs> for AppChanges {
    fn from(a: SettingArgs) -> Self {
        AppChanges {
            label: a.label,
            description: a.description,
            color: a.color,
            show_in_portal: a.show_in_portal,
            enabled: a.enabled,
        }
    }
}

pub async fn run(db: &Db, cmd: AppCommand) -> anyhow::Result<()> {
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
            apps::delete(db, &actor, &slug).await?;
            println!("deleted app {slug}");
        }
    }
    Ok(())
}
