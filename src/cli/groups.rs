//! `sesame group ...`

use clap::Subcommand;

use super::output::{json, table};
use crate::directory::{groups, Actor};
use crate::store::Db;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Rename a group or change its description (a new name is pushed to the SCIM targets
    /// that receive the group)
    Set {
        name: String,
        /// The new name
        #[arg(long = "name", value_name = "NEW")]
        new_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group (its members stay; apps bound only through it lose them)
    Delete { name: String },
    /// List groups
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a group's members and the apps it is bound to
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a user to a group
    AddMember { group: String, username: String },
    /// Remove a user from a group
    RemoveMember { group: String, username: String },
}

pub async fn run(db: &Db, cmd: GroupCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        GroupCommand::Add { name, description } => {
            let g = groups::add(db, &actor, &name, &description).await?;
            println!("created group {}", g.name);
        }
        GroupCommand::Set {
            name,
            new_name,
            description,
        } => {
            let c = groups::GroupChanges {
                name: new_name,
                description,
            };
            let g = groups::update(db, &actor, &name, &c).await?;
            println!("updated group {}", g.name);
        }
        GroupCommand::Delete { name } => {
            groups::delete(db, &actor, &name).await?;
            println!("deleted group {name}");
        }
        GroupCommand::List { json: as_json } => {
            let list = groups::list(db).await?;
            if as_json {
                return json(&list);
            }
            let rows = list
                .into_iter()
                .map(|g| vec![g.name, g.members.to_string(), g.description])
                .collect();
            table(&["name", "members", "description"], rows);
        }
        GroupCommand::Show {
            name,
            json: as_json,
        } => {
            let d = groups::show(db, &name).await?;
            if as_json {
                return json(&d);
            }
            println!("name         {}", d.group.name);
            println!("description  {}", d.group.description);
            println!("members      {}", d.member_names.join(", "));
            println!("apps         {}", d.apps.join(", "));
        }
        GroupCommand::AddMember { group, username } => {
            let changed = groups::set_member(db, &actor, &group, &username, true).await?;
            let note = if changed { "" } else { " (already a member)" };
            println!("{username} is in {group}{note}");
        }
        GroupCommand::RemoveMember { group, username } => {
            let changed = groups::set_member(db, &actor, &group, &username, false).await?;
            let note = if changed { "" } else { " (was not a member)" };
            println!("{username} is not in {group}{note}");
        }
    }
    Ok(())
}
