//! Sending a logout message through the browser with the SP's binding: HTTP-Redirect (the
//! XML DEFLATEd into the query with a detached signature, Bindings §3.4.4.1) or HTTP-POST
//! (an auto-submitting form carrying the enveloped-signed XML, §3.5.4).

use std::io::Write;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};

use crate::saml::binding::Carried;
use crate::saml::dsig::{self, SigAlg};
use crate::saml::flow::FlowError;
use crate::saml::keys::SigningKey;

/// How long an SP's logout endpoint may take to accept a connection before the chain goes
/// on without it.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(2);

/// The binding an SP takes logout messages with (its metadata's `SingleLogoutService`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SloBinding {
    #[default]
    Redirect,
    Post,
}

impl SloBinding {
    /// As stored; an empty column is the default, Redirect.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "redirect" => Some(Self::Redirect),
            "post" => Some(Self::Post),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Post => "post",
        }
    }
}

/// A logout message on its way through the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// Go to this URL (HTTP-Redirect, signed in the query).
    Redirect(String),
    /// Post this form (HTTP-POST).
    Post {
        url: String,
        /// `SAMLRequest` or `SAMLResponse`.
        param: &'static str,
        /// base64 of the signed XML.
        value: String,
        relay_state: Option<String>,
        /// The app's name, for the page around the form.
        label: String,
    },
}

fn signing(e: openssl::error::ErrorStack) -> FlowError {
    FlowError::Internal(format!("signing: {e}"))
}

fn form(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The message as the binding carries it. `xml` must already be signed for POST (the
/// builders in `message` sign when given a key) and unsigned for Redirect.
pub fn encode(
    binding: SloBinding,
    carried: Carried,
    url: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &SigningKey,
    label: &str,
) -> Result<Send, FlowError> {
    if binding == SloBinding::Post {
        return Ok(Send::Post {
            url: url.to_string(),
            param: carried.param(),
            value: STANDARD.encode(xml),
            relay_state: relay_state.map(str::to_string),
            label: label.to_string(),
        });
    }
    let mut deflate = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate
        .write_all(xml.as_bytes())
        .and_then(|_| deflate.finish())
        .map(|raw| {
            // Bindings §3.4.4.1: the signature covers exactly these octets, in this order.
            let mut query = format!("{}={}", carried.param(), form(&STANDARD.encode(raw)));
            if let Some(rs) = relay_state {
                query.push_str(&format!("&RelayState={}", form(rs)));
            }
            query.push_str(&format!(
                "&SigAlg={}",
                form(SigAlg::for_key(key.kind).uri())
            ));
            query
        })
        .map_err(|e| FlowError::Internal(format!("deflate: {e}")))
        .and_then(|query| {
            let sig = dsig::sign_bytes(key, query.as_bytes()).map_err(signing)?;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok(Send::Redirect(format!(
                "{url}{sep}{query}&Signature={}",
                form(&STANDARD.encode(sig))
            )))
        })
}

/// Whether the SP's endpoint accepts a connection within `REACH_TIMEOUT`: a front-channel
/// chain cannot time out once the browser has left, so an SP that is down is skipped here
/// rather than left to stop the chain in the browser.
pub async fn reachable(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
        return false;
    };
    let host = host.trim_matches(['[', ']']).to_string();
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(REACH_TIMEOUT, connect).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::binding::decode_redirect_any;
    use crate::saml::keys::KeyKind;

    #[test]
    fn a_redirect_message_decodes_and_its_signature_covers_the_query() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let xml = "<samlp:LogoutResponse/>";
        let sent = encode(
            SloBinding::Redirect,
            Carried::Response,
            "https://sp.example/slo?x=1",
            xml,
            Some("back to /home"),
            &key,
            "SP",
        )
        .unwrap();
        let Send::Redirect(url) = sent else {
            panic!("redirect expected")
        };
        let query = url.split_once("?x=1&").unwrap().1;
        let (carried, msg) = decode_redirect_any(query).unwrap();
        assert_eq!(carried, Carried::Response);
        assert_eq!(msg.xml, xml);
        assert_eq!(msg.relay_state.as_deref(), Some("back to /home"));
        let sig = msg.signature.unwrap();
        let alg = SigAlg::from_uri(&sig.alg).unwrap();
        assert!(dsig::verify_bytes(
            std::slice::from_ref(&key.cert),
            alg,
            &sig.signed,
            &sig.value
        ));
    }
}
