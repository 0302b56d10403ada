//! Who a request comes from, for handlers: [`remember`] applies `serve::proxy`'s rule once
//! per request (the TCP peer, or what a trusted proxy forwarded) and every reader of the
//! client's address or scheme takes it from there: [`ClientAddr`] for throttling and events,
//! `form::ClientInfo` for the sessions list, the security headers for HSTS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::AppError;
use crate::serve::proxy::{ClientOrigin, ProxyRule};

/// Middleware: works out the request's [`ClientOrigin`] and keeps it in its extensions.
pub async fn remember(
    State(rule): State<Arc<ProxyRule>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let origin = rule.origin(peer, req.headers());
        req.extensions_mut().insert(origin);
    }
    next.run(req).await
}

/// The request's [`ClientOrigin`], when [`remember`] ran (a router served without
/// connection info has none).
pub fn origin(parts: &Parts) -> Option<ClientOrigin> {
    parts.extensions.get::<ClientOrigin>().copied()
}

/// The client's address: what login throttling counts and events record.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        origin(parts).map(|o| ClientAddr(o.ip)).ok_or_else(|| {
            AppError::Internal("no client address (served without ConnectInfo)".into())
        })
    }
}
