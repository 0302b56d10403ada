//! "Test connection" (PRODUCT §3.4): read-only requests that say what is wrong in words an
//! admin can act on: connection or TLS, credentials (401/403), wrong URL (404), not SCIM.

use reqwest::Method;
use serde_json::Value;

use super::client::Exchange;
use super::target::Live;

/// `Ok(summary)` when the target answers like a SCIM service, else what failed.
pub async fn probe(t: &Live) -> Result<String, String> {
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
    let patch = config
        .response
        .as_ref()
        .and_then(|r| r["patch"]["supported"].as_bool());
    Ok(format!(
        "SCIM service at {} answers: {} user(s){}",
        t.row.base_url,
        total.map_or("an unknown number of".to_string(), |n| n.to_string()),
        match patch {
            Some(true) => ", PATCH supported",
            Some(false) => ", PATCH not supported",
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
