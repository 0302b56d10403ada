//! Pushing groups (PRODUCT §3.4, per app when `push_groups` is on): a group bound to the app
//! becomes a SCIM Group whose members are the group's members with an active account in the
//! target; renamed → `PATCH displayName`; members by `PATCH` add, and remove with the RFC
//! value filter `members[value eq "…"]` (RFC 7644 §3.5.2.2); unbound or deleted → `DELETE`.
//! A target without PATCH gets a PUT of the group with its name and all members (`replace`).

use reqwest::Method;
use serde_json::{json, Value};

use super::client::Verdict;
use super::replace::{modify, Change};
use super::sync::{Report, Run, Stop};
use super::target::Live;
use crate::store::scim::{self as store, GroupLink};
use crate::store::{groups, Db};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn members_json(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| json!({ "value": id })).collect())
}

/// Brings the group's copy in the target to what the directory says.
pub async fn sync(db: &Db, t: &Live, group_id: i64, dry_run: bool) -> Result<Report, Stop> {
    let mut conn = db.read().await?;
    let group = groups::by_id(&mut conn, group_id).await?;
    let bound = store::is_bound(&mut conn, t.app.id, group_id).await?;
    let link = store::group_link(&mut conn, t.app.id, group_id).await?;
    let members = store::member_remote_ids(&mut conn, t.app.id, group_id).await?;
    drop(conn);
    let name = group
        .as_ref()
        .map(|g| g.name.clone())
        .or_else(|| link.as_ref().map(|l| l.name.clone()))
        .unwrap_or_default();
    let mut run = Run::new(db, t, name.clone());
    let wanted = group.is_some() && bound && t.row.push_groups;
    match (wanted, link) {
        (true, None) if dry_run => {
            run.report.decision = "would look up the group, then link or create".into()
        }
        (true, None) => create_or_link(&mut run, group_id, &name, &members).await?,
        (true, Some(link)) => update(&mut run, link, &name, &members, dry_run).await?,
        (false, Some(link)) if t.row.push_groups || group.is_none() => {
            run.report.decision = "delete the group".into();
            if !dry_run {
                let path = super::client::resource_path("Groups", &link.remote_id);
                let ex = run
                    .send("group_delete_provision", Method::DELETE, &path, None)
                    .await?;
                if matches!(ex.verdict(), Verdict::Ok | Verdict::NotFound) {
                    let mut conn = db.write().await?;
                    store::delete_group_link(&mut conn, t.app.id, group_id).await?;
                }
            }
        }
        _ => run.report.decision = "nothing to do".into(),
    }
    Ok(run.report)
}

async fn create_or_link(
    run: &mut Run<'_>,
    group_id: i64,
    name: &str,
    members: &[String],
) -> Result<(), Stop> {
    let filter: String = url::form_urlencoded::byte_serialize(
        format!("displayName eq {}", Value::String(name.to_string())).as_bytes(),
    )
    .collect();
    let ex = run
        .send(
            "group_update_provision",
            Method::GET,
            &format!("/Groups?filter={filter}"),
            None,
        )
        .await?;
    let found = ex
        .response
        .as_ref()
        .and_then(|r| r["Resources"].as_array())
        .and_then(|l| l.first())
        .cloned();
    if let Some(g) = found {
        let remote: Vec<String> = g["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["value"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let link = GroupLink {
            app_id: run.t.app.id,
            group_id,
            name: g["displayName"].as_str().unwrap_or(name).to_string(),
            remote_id: g["id"].as_str().unwrap_or("").to_string(),
            members: json!(remote).to_string(),
        };
        let mut conn = run.db.write().await?;
        store::put_group_link(&mut conn, &link).await?;
        drop(conn);
        return update(run, link, name, members, false).await;
    }
    run.report.decision = format!("create with {} member(s)", members.len());
    let body =
        json!({ "schemas": [GROUP_SCHEMA], "displayName": name, "members": members_json(members) });
    let ex = run
        .send(
            "group_create_provision",
            Method::POST,
            "/Groups",
            Some(body),
        )
        .await?;
    match ex.verdict() {
        Verdict::Ok => {
            let id = ex
                .response
                .as_ref()
                .and_then(|r| r["id"].as_str())
                .ok_or_else(|| Stop::Retry(None, "the group create answer has no id".into()))?;
            let link = GroupLink {
                app_id: run.t.app.id,
                group_id,
                name: name.to_string(),
                remote_id: id.to_string(),
                members: json!(members).to_string(),
            };
            let mut conn = run.db.write().await?;
            store::put_group_link(&mut conn, &link).await?;
            Ok(())
        }
        Verdict::Conflict => Err(Stop::Retry(
            Some(std::time::Duration::ZERO),
            "409 on group create: looking it up to link it".into(),
        )),
        _ => Ok(()),
    }
}

async fn update(
    run: &mut Run<'_>,
    link: GroupLink,
    name: &str,
    members: &[String],
    dry_run: bool,
) -> Result<(), Stop> {
    let before: Vec<String> = serde_json::from_str(&link.members).unwrap_or_default();
    let mut ops = Vec::new();
    if link.name != name {
        ops.push(json!({ "op": "replace", "path": "displayName", "value": name }));
    }
    let added: Vec<String> = members
        .iter()
        .filter(|m| !before.contains(m))
        .cloned()
        .collect();
    if !added.is_empty() {
        ops.push(json!({ "op": "add", "path": "members", "value": members_json(&added) }));
    }
    for gone in before.iter().filter(|m| !members.contains(m)) {
        let path = format!("members[value eq {}]", Value::String(gone.clone()));
        ops.push(json!({ "op": "remove", "path": path }));
    }
    if ops.is_empty() {
        run.report.decision = "up to date".into();
        return Ok(());
    }
    run.report.decision = format!("update ({} operation(s))", ops.len());
    if dry_run {
        return Ok(());
    }
    // A target without PATCH gets the whole group: its name and every member (§3.5.1).
    let put = vec![
        json!({ "op": "replace", "path": "displayName", "value": name }),
        json!({ "op": "replace", "path": "members", "value": members_json(members) }),
    ];
    let change = Change { patch: ops, put };
    let ex = modify(
        run,
        "group_update_provision",
        "Groups",
        &link.remote_id,
        &change,
    )
    .await?;
    let mut conn = run.db.write().await?;
    match ex.verdict() {
        Verdict::Ok => {
            let updated = GroupLink {
                name: name.to_string(),
                members: json!(members).to_string(),
                ..link
            };
            store::put_group_link(&mut conn, &updated).await?;
            Ok(())
        }
        Verdict::NotFound => {
            store::delete_group_link(&mut conn, link.app_id, link.group_id).await?;
            Err(Stop::Retry(
                Some(std::time::Duration::ZERO),
                "the target lost the group; looking it up again".into(),
            ))
        }
        _ => Ok(()),
    }
}
