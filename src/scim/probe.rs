//! "Test connection" (PRODUCT §3.4): read-only requests that say what is wrong in words an
//! admin can act on: connection or TLS, credentials (401/403), wrong URL (404), not SCIM.
//! Also what the target supports (RFC 7643 §5 ServiceProviderConfig: `patch.supported`,
//! `etag.supported`), read here and by the worker on first contact (`discover`).

use reqwest::Method;
use serde_json::Value;

use super::client::{Exchange, Verdict};
use super::target::Live;
use crate::store::scim::{self as store, Capabilities};
use crate::store::{now_ms, Db, StoreError};

/// What a /ServiceProviderConfig answer says; `None` when it is not one (a target without
/// the endpoint is taken to have PATCH, as RFC 7644 §3.5.2 expects, and no ETags).
pub fn capabilities(config: &Exchange) -> Option<Capabilities> {
    if config.verdict() != Verdict::Ok {
        return None;
    }
    let doc = config.response.as_ref()?.as_object()?;
    let supported = |k: &str, default: bool| {
        doc.get(k)
            .and_then(|v| v["supported"].as_bool())
            .unwrap_or(default)
    };
    Some(Capabilities {
        patch: supported("patch", true),
        etag: supported("etag", false),
        discovered_at: now_ms(),
    })
}

/// Reads and records what the target supports. A target that does not answer now is
/// assumed to have PATCH (and read again next time); one that answers without a usable
/// document is recorded so.
pub async fn discover(db: &Db, t: &Live) -> Result<Capabilities, StoreError> {
    let config = t
        .client
        .send(Method::GET, "/ServiceProviderConfig", None)
        .await;
    let caps = match capabilities(&config) {
        Some(c) => c,
        None if matches!(
            config.verdict(),
            Verdict::Transient(_) | Verdict::Unauthorized
        ) =>
        {
            return Ok(Capabilities::default())
        }
        None => Capabilities {
            discovered_at: now_ms(),
            ..Capabilities::default()
        },
    };
    let mut conn = db.write().await?;
    store::set_capabilities(&mut conn, t.app.id, &caps).await?;
    Ok(caps)
}

/// `Ok(summary)` when the target answers like a SCIM service, else what failed; what the
/// target supports is recorded.
pub async fn probe(db: &Db, t: &Live) -> Result<String, String> {
    let users = t
        .client
        .send(Method::GET, "/Users?count=1&startIndex=1", None)
        .await;
    check(&users, "/Users")?;
    let total = users
        .response
        .as_ref()
        .and_then(|r| r.get("totalResults"))
        .and_then(Value::as_i64);
    let config = t
        .client
        .send(Method::GET, "/ServiceProviderConfig", None)
        .await;
    let caps = capabilities(&config);
    if let Some(c) = &caps {
        let stored = async {
            let mut conn = db.write().await?;
            store::set_capabilities(&mut conn, t.app.id, c).await
        };
        stored.await.map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "SCIM service at {} answers: {} user(s){}",
        t.row.base_url,
        total.map_or("an unknown number of".to_string(), |n| n.to_string()),
        match caps {
            Some(c) if c.patch && c.etag => ", PATCH supported, ETags supported",
            Some(c) if c.patch => ", PATCH supported",
            Some(c) if c.etag => {
                ", PATCH not supported (updates are sent as PUT of the whole resource), ETags supported"
            }
            Some(_) => ", PATCH not supported (updates are sent as PUT of the whole resource)",
            None => "",
        }
    ))
}

fn check(ex: &Exchange, what: &str) -> Result<(), String> {
    if let Some(e) = &ex.error {
        return Err(format!("connection failed: {e}"));
    }
    match ex.status.unwrap_or(0) {
        401 | 403 => Err(format!(
            "the target refused the credentials (HTTP {}): check the token or user/password",
            ex.status.unwrap_or(0)
        )),
        404 => Err(format!(
            "{what} was not found (HTTP 404): check the base URL (it usually ends in /scim/v2 or /v2/scim)"
        )),
        s if !(200..300).contains(&s) => Err(format!("the target answered {}", ex.detail())),
        _ => {
            let scim = ex
                .response
                .as_ref()
                .and_then(|r| r.get("schemas"))
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|v| v.as_str().is_some_and(|v| v.contains("scim"))));
            if scim {
                Ok(())
            } else {
                Err(format!("{what} did not answer like a SCIM service (no SCIM schemas in the answer)"))
            }
        }
    }
}
