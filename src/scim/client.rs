//! HTTP to a SCIM target (RFC 7644 §3): one `Exchange` per request, recorded for events with
//! the credentials left out, and classified the way the engine acts on it (§3.12 errors,
//! RFC 6585 429, RFC 9110 §10.2.3 `Retry-After`).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::secret::Secret;

#[derive(Debug, Clone)]
pub enum Auth {
    Bearer(Secret),
    Basic(String, Secret),
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    timeout: Duration,
    /// The app's slug, as `/metrics` names the target (empty: `unknown`).
    target: String,
}

/// One HTTP client for every target: building one loads the system's trust store, far too
/// costly per request; connections are pooled per host.
fn shared() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default()
    })
    .clone()
}

/// One request and its answer, as shown in events (no credentials, bodies capped).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub request: Option<Value>,
    pub status: Option<u16>,
    pub response: Option<Value>,
    pub retry_after: Option<Duration>,
    /// The resource's version (`ETag` header, RFC 7644 §3.14), when the target sent one.
    pub etag: Option<String>,
    /// Transport failure (connect, TLS, timeout) in words.
    pub error: Option<String>,
}

/// What the engine does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    NotFound,
    Conflict,
    /// 401/403: stop the target until an admin fixes the credentials.
    Unauthorized,
    /// 429, 5xx, network: retry later, not before `retry_after`.
    Transient(Option<Duration>),
    /// Another 4xx: this payload will not succeed as is.
    Refused,
}

impl Exchange {
    pub fn verdict(&self) -> Verdict {
        match self.status {
            None => Verdict::Transient(None),
            Some(s) if (200..300).contains(&s) => Verdict::Ok,
            Some(401 | 403) => Verdict::Unauthorized,
            Some(404) => Verdict::NotFound,
            Some(409) => Verdict::Conflict,
            Some(408 | 425 | 429) => Verdict::Transient(self.retry_after),
            // Not Implemented: the method will not work however often it is tried (a PATCH
            // to a target without it; `replace` falls back to PUT).
            Some(501) => Verdict::Refused,
            Some(s) if s >= 500 => Verdict::Transient(self.retry_after),
            Some(_) => Verdict::Refused,
        }
    }

    /// The target's own words: SCIM error `detail`, else the transport error.
    pub fn detail(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let body = self.response.as_ref();
        let detail = body
            .and_then(|b| b.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let scim_type = body
            .and_then(|b| b.get("scimType"))
            .and_then(Value::as_str)
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        format!("HTTP {}{scim_type} {detail}", self.status.unwrap_or(0))
            .trim()
            .to_string()
    }

    /// For the event's detail: the request line, bodies, status; never credentials.
    pub fn to_json(&self) -> Value {
        json!({
            "request": { "method": self.method, "path": self.path, "body": self.request },
            "response": { "status": self.status, "body": self.response, "error": self.error },
        })
    }
}

/// A request body as it may be recorded: a `password` attribute (RFC 7643 §4.1.1, in a PUT
/// or POST) or a PATCH operation on `password` (RFC 7644 §3.5.2) has its value replaced.
pub fn redacted(mut body: Value) -> Value {
    const HIDDEN: &str = "<redacted>";
    let is_password = |k: &str| k.eq_ignore_ascii_case("password");
    if let Some(obj) = body.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if is_password(k) {
                *v = json!(HIDDEN);
            }
        }
    }
    if let Some(ops) = body.get_mut("Operations").and_then(Value::as_array_mut) {
        for op in ops {
            let on_password = op
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(is_password);
            match op.get_mut("value") {
                Some(v) if on_password => *v = json!(HIDDEN),
                Some(v) if v.is_object() => *v = redacted(v.take()),
                _ => {}
            }
        }
    }
    body
}

/// The path of a resource the target named: `id` is the target's text, so it is one path
/// segment, percent-encoded (RFC 3986 §3.3) — an `id` of `../x?y` cannot steer a request
/// elsewhere on the target.
pub fn resource_path(kind: &str, id: &str) -> String {
    // Unreserved characters but `.` stay as they are (ids are mostly UUIDs); `.` is encoded
    // too, so that an id of `..` is not a dot-segment.
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    let seg = percent_encoding::utf8_percent_encode(id, SEGMENT);
    format!("/{kind}/{seg}")
}

/// `Retry-After`: delta-seconds or an HTTP-date.
pub fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let asked = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
        Duration::from_millis(ms.max(0) as u64)
    };
    // A target may not park sesame for ever (nor overflow the times computed from it).
    Some(asked.min(MAX_RETRY_AFTER))
}

/// The longest `Retry-After` honoured; a target asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

const BODY_CAP: usize = 16 * 1024;

impl Client {
    pub fn new(base: &str, auth: Auth, timeout: Duration) -> Client {
        Client {
            http: shared(),
            base: base.trim_end_matches('/').to_string(),
            auth,
            timeout,
            target: String::new(),
        }
    }

    /// Names the target in the metrics: the app's slug, as stored.
    pub fn for_target(mut self, slug: &str) -> Client {
        self.target = slug.to_string();
        self
    }

    /// Sends one request; `path` starts with `/` and may carry an encoded query.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Exchange {
        self.send_if(method, path, body, None).await
    }

    /// `send`, with `If-Match: <version>` when given (RFC 7644 §3.14): the target answers
    /// 412 if the resource changed since that version was read.
    pub async fn send_if(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Exchange {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .timeout(self.timeout)
            .header("Accept", "application/scim+json, application/json");
        req = match &self.auth {
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p.expose())),
        };
        if let Some(b) = &body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        if let Some(v) = if_match {
            req = req.header("If-Match", v);
        }
        super::pace::slot(&self.base).await;
        let start = std::time::Instant::now();
        let mut ex = Exchange {
            method: method.to_string(),
            path: path.to_string(),
            // What events, reports and `Debug` may show: a password sent is never kept.
            request: body.map(redacted),
            status: None,
            response: None,
            retry_after: None,
            etag: None,
            error: None,
        };
        match req.send().await {
            Ok(res) => {
                ex.status = Some(res.status().as_u16());
                ex.retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after);
                ex.etag = res
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match res.bytes().await {
                    Ok(b) if b.is_empty() => {}
                    Ok(b) => {
                        ex.response = Some(serde_json::from_slice(&b).unwrap_or_else(|_| {
                            let text = String::from_utf8_lossy(&b[..b.len().min(BODY_CAP)]);
                            Value::String(text.into_owned())
                        }))
                    }
                    Err(e) => ex.error = Some(format!("reading the answer failed: {e}")),
                }
            }
            Err(e) => ex.error = Some(describe(&e)),
        }
        let target = if self.target.is_empty() {
            "unknown"
        } else {
            &self.target
        };
        crate::telemetry::scim_request(target, method.as_str(), ex.status, start.elapsed());
        let throttled = matches!(ex.status, Some(429 | 503)) && ex.retry_after.is_some();
        super::pace::observe(&self.base, throttled);
        ex
    }

    /// Whether requests to this target are already paced (see `pace`).
    pub fn paced(&self) -> bool {
        super::pace::pacing(&self.base)
    }
}

/// A transport error as a sentence an admin can act on (no URL credentials, no token):
/// what happened, where, and what to check. The error chain is only the last resort.
fn describe(e: &reqwest::Error) -> String {
    let place = e
        .url()
        .map(|u| {
            let host = u.host_str().unwrap_or("?");
            match u.port_or_known_default() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            }
        })
        .unwrap_or_else(|| "the target".into());
    let chain = {
        let mut parts = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            parts.push(s.to_string());
            source = s.source();
        }
        parts.join(": ")
    };
    let io_kind = {
        let mut source = std::error::Error::source(e);
        let mut kind = None;
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                kind = Some(io.kind());
            }
            source = s.source();
        }
        kind
    };
    let lower = chain.to_lowercase();
    if e.is_timeout() {
        format!(
            "{place} did not answer in time. Check that the SCIM service is running and \
             reachable from sesame (a firewall that drops packets looks like this)."
        )
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        format!(
            "Nothing answered at {place} (connection refused). Check the URL and port and \
             that the SCIM service is running."
        )
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        format!("The name in the URL ({place}) could not be found (DNS). Check the URL.")
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        format!(
            "The secure connection to {place} failed ({chain}). Check that the target's \
             certificate is valid for this name and issued by a trusted authority."
        )
    } else if e.is_connect() {
        format!("Cannot connect to {place} ({chain}). Check the URL and the network.")
    } else {
        format!("The request to {place} failed: {chain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_error_is_a_sentence_an_admin_can_act_on() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/scim/v2/Users"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            describe(&e),
            format!(
                "Nothing answered at 127.0.0.1:{port} (connection refused). Check the URL and \
                 port and that the SCIM service is running."
            )
        );
    }

    #[test]
    fn retry_after_is_capped() {
        // A hostile target's header must neither overflow the next-attempt time nor park
        // the target for ever (found by reading the engine after the fuzz campaign).
        assert_eq!(retry_after("9223372036854775"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let d = retry_after(&later.to_rfc2822()).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(retry_after("soon"), None);
    }
}

#[cfg(test)]
mod redaction_tests {
    use serde_json::json;

    #[test]
    fn a_password_is_never_recorded_in_any_body_shape() {
        let put = json!({ "userName": "a", "password": "pw-1", "active": true });
        assert_eq!(
            super::redacted(put),
            json!({ "userName": "a", "password": "<redacted>", "active": true })
        );
        let patch = json!({ "Operations": [
            { "op": "replace", "path": "password", "value": "pw-2" },
            { "op": "replace", "value": { "Password": "pw-3", "title": "t" } },
            { "op": "replace", "path": "title", "value": "kept" },
        ]});
        let shown = super::redacted(patch).to_string();
        assert!(!shown.contains("pw-"), "{shown}");
        assert!(shown.contains("kept"), "{shown}");
    }
}

#[cfg(test)]
mod path_tests {
    #[test]
    fn a_target_id_is_one_encoded_segment() {
        assert_eq!(
            super::resource_path("Users", "2819c223-7f76_453a~919d"),
            "/Users/2819c223-7f76_453a~919d"
        );
        assert_eq!(super::resource_path("Groups", ".."), "/Groups/%2E%2E");
        assert_eq!(
            super::resource_path("Users", "../x?y#z"),
            "/Users/%2E%2E%2Fx%3Fy%23z"
        );
    }
}
