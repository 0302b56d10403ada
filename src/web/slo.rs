//! `/saml2/{slug}/slo`: the Single Logout service for both bindings, and the portal's Sign
//! out, which starts the same chain. Handlers move HTTP in and out; `saml::logout` decides.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::pages::{render, MessagePage};
use super::sso::{post_page, PostPage};
use crate::app::AppState;
use crate::auth::session;
use crate::error::AppError;
use crate::saml::binding::{self, BindingError};
use crate::saml::flow;
use crate::saml::logout::{self, Browser, Logout, Send};
use crate::saml::validate::Binding;

/// The decision as HTTP: on to the next SP, the answer to the SP that asked, or the page
/// that says the user is signed out.
pub fn respond(l: Logout) -> Response {
    match l {
        Logout::Send(Send::Redirect(url)) => Redirect::to(&url).into_response(),
        Logout::Send(Send::Post {
            url,
            param,
            value,
            relay_state,
            label,
        }) => post_page(&PostPage {
            heading: &format!("Signing you out of {label}"),
            url: &url,
            param,
            value: &value,
            relay_state: relay_state.as_deref(),
        }),
        Logout::Finished { failed } if failed.is_empty() => {
            Redirect::to("/login?logged_out=1").into_response()
        }
        Logout::Finished { failed } => render(&MessagePage {
            title: "You are signed out of sesame".into(),
            message: format!(
                "These applications did not confirm that you are signed out of them: {}.",
                failed.join(", ")
            ),
            hint: Some(
                "Sign out in each of them, or close your browser to end their sessions.".into(),
            ),
        }),
        Logout::Refused(m) => AppError::SamlRequest(m).into_response(),
    }
}

/// The portal session of this browser, as Single Logout names it.
async fn browser(state: &AppState, session: &Session) -> Result<Option<Browser>, AppError> {
    let Some(user) = session::current_user(session, &state.db).await? else {
        return Ok(None);
    };
    let s = session::sso_state(session).await?;
    Ok(Some(Browser {
        user_id: user.id,
        session_index: s.session_index,
    }))
}

/// HTTP-Redirect binding (GET): a LogoutRequest, or the LogoutResponse to ours.
pub async fn redirect_binding(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let t = flow::target(&state.idp, &slug).await?;
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Err(AppError::BadRequest(format!(
            "This is the Single Logout address of {}. Sign out from the application or from your sesame portal.",
            t.app.label
        )));
    };
    let who = browser(&state, &session).await?;
    let decoded = binding::decode_redirect_any(&query);
    let (l, ended) = logout::from_sp(&state.idp, &t, Binding::Redirect, decoded, who).await?;
    if ended {
        session::end(&session).await?;
    }
    Ok(respond(l))
}

/// HTTP-POST binding. The cross-site POST carries no session cookie: the request names the
/// session by its SessionIndex.
pub async fn post_binding(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let t = flow::target(&state.idp, &slug).await?;
    let decoded = body
        .map_err(|_| BindingError::TooLarge("request body"))
        .and_then(|b| String::from_utf8(b.to_vec()).map_err(|_| BindingError::NotUtf8))
        .and_then(|b| binding::decode_post_any(&b));
    let (l, _) = logout::from_sp(&state.idp, &t, Binding::Post, decoded, None).await?;
    Ok(respond(l))
}
