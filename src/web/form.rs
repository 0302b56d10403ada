//! A form extractor whose rejection is an HTML error page rather than axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

pub struct HtmlForm<T>(pub T);

impl<S, T> FromRequest<S> for HtmlForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(HtmlForm(v)),
            Err(e) => Err(AppError::BadRequest(format!(
                "The form could not be read: {}",
                e.body_text()
            ))),
        }
    }
}

/// Where a request comes from (its user agent and address), for the list of sessions.
pub struct ClientInfo(pub crate::auth::session::Client);

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ip = super::client::origin(parts)
            .map(|o| o.ip.to_string())
            .unwrap_or_default();
        Ok(ClientInfo(crate::auth::session::Client { user_agent, ip }))
    }
}

/// A post-login destination: a same-origin path only (no `//host`, no `/\host`, no scheme),
/// so `?next=` cannot send anyone elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/saml2/x?a=b")), "/saml2/x?a=b");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}

/// A refused form's message, tied to the field it is about (when known): the page is shown
/// again with what was typed, the field marked `aria-invalid`, described by the message,
/// and focused (WCAG 3.3.1).
#[derive(Debug, Clone, Default)]
pub struct Invalid {
    /// The field's `name` (also its `id`); empty when the message is about the whole form.
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: Option<&'static str>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.unwrap_or(""),
            message: message.into(),
        }
    }

    /// The attributes of the field `name`: marked, described by its message (`err-` + the
    /// name) and focused when it is the one at fault. `name` is the template's own literal,
    /// so the page prints this unescaped.
    pub fn attrs(&self, name: &str) -> String {
        if !self.field.is_empty() && self.field == name {
            format!(r#" aria-invalid="true" aria-describedby="err-{name}" autofocus"#)
        } else {
            String::new()
        }
    }

    /// The message, under the field `name` when it is the one at fault.
    pub fn says(&self, name: &str) -> Option<&str> {
        (!self.message.is_empty() && self.field == name).then_some(self.message.as_str())
    }

    /// The message when it names no field (shown above the form).
    pub fn general(&self) -> Option<&str> {
        (!self.message.is_empty() && self.field.is_empty()).then_some(self.message.as_str())
    }
}
