//! Changing a resource the target holds: a PATCH with just the changes (RFC 7644 §3.5.2)
//! when the target supports it, else a PUT of the whole resource (§3.5.1) built from a fresh
//! GET of what the target has now with sesame's values applied, so attributes sesame does not
//! map survive. When the target versions resources (§3.14) the PUT carries `If-Match` with
//! the version read: a 412 means someone wrote in between, so read again and try once more.
//! A PATCH answered 501 or 405 means the target has no PATCH after all: recorded, then PUT.

use reqwest::Method;
use serde_json::Value;

use super::client::{resource_path, Exchange, Verdict};
use super::mapping;
use super::sync::{Run, Stop};
use crate::store::scim::{self as store, Capabilities};

/// What to change: the PATCH operations, and those a PUT applies to the fresh copy (the
/// same, or the whole mapped state when a PUT can also correct drift).
pub(crate) struct Change {
    pub patch: Vec<Value>,
    pub put: Vec<Value>,
}

/// Sends `change` to `/{kind}/{remote_id}` the way the target takes it; returns the last
/// answer (a 404 comes back as is, for the caller to forget the link).
pub(crate) async fn modify(
    run: &mut Run<'_>,
    event: &'static str,
    kind: &str,
    remote_id: &str,
    change: &Change,
) -> Result<Exchange, Stop> {
    let path = resource_path(kind, remote_id);
    if run.t.row.caps.patch && !run.no_patch {
        let body = mapping::patch_body(change.patch.clone());
        let ex = run.send(event, Method::PATCH, &path, Some(body)).await?;
        if !matches!(ex.status, Some(405 | 501)) {
            return Ok(ex);
        }
        // Said to support PATCH (or never asked) but does not: remember, and PUT instead.
        run.no_patch = true;
        let caps = Capabilities {
            patch: false,
            discovered_at: crate::store::now_ms(),
            ..run.t.row.caps
        };
        let mut conn = run.db.write().await?;
        store::set_capabilities(&mut conn, run.t.app.id, &caps).await?;
    }
    put(run, event, &path, &change.put).await
}

async fn put(
    run: &mut Run<'_>,
    event: &'static str,
    path: &str,
    ops: &[Value],
) -> Result<Exchange, Stop> {
    let mut tries = 0;
    loop {
        tries += 1;
        let current = run.send(event, Method::GET, path, None).await?;
        if current.verdict() != Verdict::Ok {
            return Ok(current);
        }
        let resource = current.response.clone().unwrap_or_default();
        let version = run.t.row.caps.etag.then(|| version_of(&current)).flatten();
        let body = mapping::put_body(&resource, ops);
        let ex = run
            .send_if(event, Method::PUT, path, Some(body), version.as_deref())
            .await?;
        if ex.status == Some(412) && tries < 2 {
            continue;
        }
        if ex.status == Some(412) {
            return Err(Stop::Retry(
                None,
                "the target's copy kept changing under the update (412 twice)".into(),
            ));
        }
        return Ok(ex);
    }
}

/// The version to send in `If-Match`: the `ETag` header, else `meta.version` (§3.14 says
/// they are the same).
fn version_of(ex: &Exchange) -> Option<String> {
    ex.etag.clone().or_else(|| {
        ex.response
            .as_ref()
            .and_then(|r| r["meta"]["version"].as_str())
            .map(str::to_string)
    })
}
