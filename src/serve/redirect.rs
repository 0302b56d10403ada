//! `http_listen`: the plain-HTTP listener beside the HTTPS one. Every request is answered
//! 308 Permanent Redirect (RFC 9110 §15.4.9: the method and body are kept, unlike 301) to
//! the same path and query on `base_url`'s host over HTTPS. The host comes from `base_url`,
//! never from the request's `Host`, so this cannot be made to point anywhere else.
//! `/healthz` alone answers here too: load balancer checks often do not follow redirects,
//! and it says nothing but "ok".

use axum::extract::{Request, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use url::Url;

/// `https://host[:port]` of `base_url` (a plain `base_url` is taken over to https, with the
/// default port).
pub fn https_origin(base_url: &Url) -> String {
    let mut u = base_url.clone();
    if u.scheme() == "http" {
        let _ = u.set_scheme("https");
        let _ = u.set_port(None);
    }
    u.origin().ascii_serialization()
}

pub fn router(origin: String) -> Router {
    Router::new()
        .route("/healthz", get(crate::web::health::healthz))
        .fallback(to_https)
        .with_state(origin)
}

async fn to_https(State(origin): State<String>, req: Request) -> Response {
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| pq.starts_with('/'))
        .unwrap_or("/");
    (
        StatusCode::PERMANENT_REDIRECT,
        [(LOCATION, format!("{origin}{target}"))],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::https_origin;
    use url::Url;

    #[test]
    fn origin_is_base_urls_host_over_https() {
        let o = |s: &str| https_origin(&Url::parse(s).unwrap());
        assert_eq!(o("https://sso.example.com/"), "https://sso.example.com");
        assert_eq!(
            o("https://sso.example.com:8443/x/"),
            "https://sso.example.com:8443"
        );
        assert_eq!(o("http://sso.example.com:8080/"), "https://sso.example.com");
    }
}
