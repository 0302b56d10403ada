//! Getting an `AuthnRequest` and its RelayState out of the two request bindings, within
//! size limits: HTTP-Redirect (SAML Bindings §3.4: base64 of raw DEFLATE in the query,
//! detached signature over the raw query bytes) and HTTP-POST (§3.5: base64 in a form).
//! SECURITY 1, 2, 4 and 7.

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::DeflateDecoder;

/// The largest request XML we read, after inflating or decoding (SECURITY 2).
pub const MAX_XML: usize = 128 * 1024;
/// The largest base64 text accepted for a request (a little over `MAX_XML` encoded).
pub const MAX_ENCODED: usize = MAX_XML / 3 * 4 + 1024;
/// RelayState above this length is accepted but logged (SECURITY 7 warns above 80 bytes).
pub const RELAY_STATE_WARN: usize = 80;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindingError {
    #[error("the request carries no SAMLRequest")]
    Missing,
    #[error("the parameter {0} appears more than once")]
    Duplicate(&'static str),
    #[error("the request is too large ({0})")]
    TooLarge(&'static str),
    #[error("SAMLRequest is not valid base64")]
    Base64,
    #[error("SAMLRequest is not valid DEFLATE data")]
    Inflate,
    #[error("the request is not UTF-8 text")]
    NotUtf8,
    #[error("RelayState must be at most 1024 bytes without line breaks or NUL")]
    RelayState,
    #[error("the request has a Signature but no SigAlg")]
    SigAlgMissing,
    #[error("the request has a SigAlg but no Signature")]
    SignatureMissing,
    #[error("SAMLEncoding {0:?} is not supported (only DEFLATE)")]
    Encoding(String),
}

/// A detached HTTP-Redirect signature: the algorithm URI, the signature bytes, and the
/// octets it covers, rebuilt from the raw (still URL-encoded) query values (§3.4.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSignature {
    pub alg: String,
    pub value: Vec<u8>,
    pub signed: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub xml: String,
    pub relay_state: Option<String>,
    /// HTTP-Redirect only; HTTP-POST signatures are inside the XML.
    pub signature: Option<DetachedSignature>,
}

/// Which message a binding carried: a request (`SAMLRequest`) or a response
/// (`SAMLResponse`, as a LogoutResponse comes back to the Single Logout endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    Request,
    Response,
}

impl Carried {
    /// The form or query parameter (Bindings §3.4.4, §3.5.4).
    pub fn param(self) -> &'static str {
        match self {
            Carried::Request => "SAMLRequest",
            Carried::Response => "SAMLResponse",
        }
    }
}

#[derive(Default)]
struct Params<'q> {
    request: Option<&'q str>,
    response: Option<&'q str>,
    relay_state: Option<&'q str>,
    sig_alg: Option<&'q str>,
    signature: Option<&'q str>,
    encoding: Option<&'q str>,
}

/// Splits a query or form body into the SAML parameters, keeping their raw encoded text and
/// refusing duplicates (a second `SAMLRequest` or `SigAlg` must not choose what is verified).
fn params(raw: &str) -> Result<Params<'_>, BindingError> {
    let mut p = Params::default();
    for pair in raw.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, name) = match decode(k).as_str() {
            "SAMLRequest" => (&mut p.request, "SAMLRequest"),
            "SAMLResponse" => (&mut p.response, "SAMLResponse"),
            "RelayState" => (&mut p.relay_state, "RelayState"),
            "SigAlg" => (&mut p.sig_alg, "SigAlg"),
            "Signature" => (&mut p.signature, "Signature"),
            "SAMLEncoding" => (&mut p.encoding, "SAMLEncoding"),
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(BindingError::Duplicate(name));
        }
    }
    Ok(p)
}

/// application/x-www-form-urlencoded decoding of one value.
fn decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Base64 that may have been line-wrapped, or had its `+` turned into a space by a sender
/// that did not percent-encode it (a space is never base64).
fn base64(text: &str) -> Result<Vec<u8>, BindingError> {
    if text.len() > MAX_ENCODED {
        return Err(BindingError::TooLarge("SAMLRequest"));
    }
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\t'))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    STANDARD.decode(compact).map_err(|_| BindingError::Base64)
}

fn relay_state(raw: Option<&str>) -> Result<Option<String>, BindingError> {
    let Some(raw) = raw else { return Ok(None) };
    let rs = decode(raw);
    crate::saml::settings::relay_state(&rs).map_err(|_| BindingError::RelayState)?;
    if rs.len() > RELAY_STATE_WARN {
        tracing::warn!(
            len = rs.len(),
            "RelayState longer than 80 bytes (SAML Bindings §3.4.3)"
        );
    }
    Ok(Some(rs))
}

fn utf8(bytes: Vec<u8>) -> Result<String, BindingError> {
    String::from_utf8(bytes).map_err(|_| BindingError::NotUtf8)
}

impl Params<'_> {
    /// The one message carried: a request, or (where `responses` are taken) a response.
    fn message(&self, responses: bool) -> Result<(Carried, &str), BindingError> {
        match (self.request, self.response) {
            (Some(r), None) => Ok((Carried::Request, r)),
            (Some(r), Some(_)) if !responses => Ok((Carried::Request, r)),
            (None, Some(r)) if responses => Ok((Carried::Response, r)),
            (Some(_), Some(_)) => Err(BindingError::Duplicate("SAMLRequest and SAMLResponse")),
            _ => Err(BindingError::Missing),
        }
    }
}

/// HTTP-Redirect: `raw_query` exactly as received (the part after `?`).
pub fn decode_redirect(raw_query: &str) -> Result<Message, BindingError> {
    redirect(raw_query, false).map(|(_, m)| m)
}

/// HTTP-Redirect carrying a request or a response (the Single Logout endpoint).
pub fn decode_redirect_any(raw_query: &str) -> Result<(Carried, Message), BindingError> {
    redirect(raw_query, true)
}

fn redirect(raw_query: &str, responses: bool) -> Result<(Carried, Message), BindingError> {
    let p = params(raw_query)?;
    let (carried, request) = p.message(responses)?;
    if let Some(enc) = p.encoding {
        let enc = decode(enc);
        if enc != "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE" {
            return Err(BindingError::Encoding(enc));
        }
    }
    let deflated = base64(&decode(request))?;
    let mut xml = Vec::new();
    DeflateDecoder::new(&deflated[..])
        .take(MAX_XML as u64 + 1)
        .read_to_end(&mut xml)
        .map_err(|_| BindingError::Inflate)?;
    if xml.len() > MAX_XML {
        return Err(BindingError::TooLarge("inflated SAMLRequest"));
    }
    let signature = match (p.sig_alg, p.signature) {
        (None, None) => None,
        (None, Some(_)) => return Err(BindingError::SigAlgMissing),
        (Some(_), None) => return Err(BindingError::SignatureMissing),
        (Some(alg), Some(sig)) => {
            let mut signed = format!("{}={request}", carried.param());
            if let Some(rs) = p.relay_state {
                signed.push_str("&RelayState=");
                signed.push_str(rs);
            }
            signed.push_str("&SigAlg=");
            signed.push_str(alg);
            Some(DetachedSignature {
                alg: decode(alg),
                value: base64(&decode(sig))?,
                signed: signed.into_bytes(),
            })
        }
    };
    let msg = Message {
        xml: utf8(xml)?,
        relay_state: relay_state(p.relay_state)?,
        signature,
    };
    Ok((carried, msg))
}

/// HTTP-POST: the form body as received.
pub fn decode_post(body: &str) -> Result<Message, BindingError> {
    post(body, false).map(|(_, m)| m)
}

/// HTTP-POST carrying a request or a response (the Single Logout endpoint).
pub fn decode_post_any(body: &str) -> Result<(Carried, Message), BindingError> {
    post(body, true)
}

fn post(body: &str, responses: bool) -> Result<(Carried, Message), BindingError> {
    let p = params(body)?;
    let (carried, request) = p.message(responses)?;
    let xml = base64(&decode(request))?;
    if xml.len() > MAX_XML {
        return Err(BindingError::TooLarge("SAMLRequest"));
    }
    let msg = Message {
        xml: utf8(xml)?,
        relay_state: relay_state(p.relay_state)?,
        signature: None,
    };
    Ok((carried, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    fn deflate(data: &[u8]) -> String {
        let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        let b64 = STANDARD.encode(e.finish().unwrap());
        url::form_urlencoded::byte_serialize(b64.as_bytes()).collect()
    }

    #[test]
    fn redirect_round_trip_and_signed_octets_are_the_raw_bytes() {
        let req = deflate(b"<x/>");
        let q = format!("SAMLRequest={req}&RelayState=a%20b+c&SigAlg=alg%3A1&Signature=AAAA&z=1");
        let m = decode_redirect(&q).unwrap();
        assert_eq!(m.xml, "<x/>");
        assert_eq!(m.relay_state.as_deref(), Some("a b c"));
        let sig = m.signature.unwrap();
        assert_eq!(sig.alg, "alg:1");
        assert_eq!(
            String::from_utf8(sig.signed).unwrap(),
            format!("SAMLRequest={req}&RelayState=a%20b+c&SigAlg=alg%3A1")
        );
    }

    #[test]
    fn refusals() {
        let req = deflate(b"<x/>");
        let dup = format!("SAMLRequest={req}&SigAlg=a&SigAlg=b&Signature=AAAA");
        assert_eq!(
            decode_redirect(&dup),
            Err(BindingError::Duplicate("SigAlg"))
        );
        let no_alg = format!("SAMLRequest={req}&Signature=AAAA");
        assert_eq!(decode_redirect(&no_alg), Err(BindingError::SigAlgMissing));
        assert_eq!(decode_redirect("RelayState=x"), Err(BindingError::Missing));
        let crlf = format!("SAMLRequest={req}&RelayState=a%0D%0ASet-Cookie:x");
        assert_eq!(decode_redirect(&crlf), Err(BindingError::RelayState));
        let bomb = deflate(&vec![b' '; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20_000, "a bomb is small on the wire");
        assert_eq!(
            decode_redirect(&format!("SAMLRequest={bomb}")),
            Err(BindingError::TooLarge("inflated SAMLRequest"))
        );
        assert_eq!(decode_post("SAMLRequest=%%%"), Err(BindingError::Base64));
    }
}
