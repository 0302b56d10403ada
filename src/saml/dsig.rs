//! XML Signature (xmldsig-core1) for SAML: enveloped signatures on our Responses and
//! Assertions (SECURITY 8), verification of enveloped signatures on HTTP-POST requests
//! (SECURITY 3) and of HTTP-Redirect detached signatures (SAML Bindings §3.4.4.1, SECURITY 4).
//!
//! Why not samael/xmlsec: its template digests with SHA-1, cannot sign with ECDSA, signs
//! only the Response, and re-serializes after signing (reference/saml-idp-anchors.md §2.4).
//! We write canonical XML from the start, so signing is a digest and one private-key
//! operation over bytes we then send unchanged.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use roxmltree::{Document, Node};
use subtle::ConstantTimeEq;

use super::c14n;
use super::keys::{KeyKind, SigningKey};
use super::ns::DS;
use super::xml::{simple_text, XmlWriter};

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Signature algorithms we accept; SHA-1 only where an app opts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    RsaSha256,
    RsaSha512,
    EcdsaSha256,
    RsaSha1,
}

impl SigAlg {
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Self::RsaSha256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Self::RsaSha512,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Self::EcdsaSha256,
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Self::RsaSha1,
            _ => return None,
        })
    }
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Self::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }
    fn digest(self) -> MessageDigest {
        match self {
            Self::RsaSha256 | Self::EcdsaSha256 => MessageDigest::sha256(),
            Self::RsaSha512 => MessageDigest::sha512(),
            Self::RsaSha1 => MessageDigest::sha1(),
        }
    }
    pub fn is_sha1(self) -> bool {
        self == Self::RsaSha1
    }
    pub(crate) fn for_key(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Rsa => Self::RsaSha256,
            KeyKind::EcP256 => Self::EcdsaSha256,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DsigError {
    #[error("the request is not signed")]
    Unsigned,
    #[error("the signature is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("SHA-1 signatures are refused for this application")]
    Sha1,
    #[error("the signed content was changed (digest mismatch)")]
    Digest,
    #[error("the signature does not verify with the application's registered certificate")]
    BadSignature,
    #[error("the request is signed, and no SP certificate is registered to check it with")]
    NoCertificate,
}

fn digest_alg(uri: &str) -> Option<(MessageDigest, bool)> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => (MessageDigest::sha256(), false),
        "http://www.w3.org/2001/04/xmlenc#sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2000/09/xmldsig#sha1" => (MessageDigest::sha1(), true),
        _ => return None,
    })
}

/// Signs `data` with the key: RSA PKCS#1 v1.5, or ECDSA with the signature as r‖s
/// (XML-DSig §6.4.3), not DER.
pub fn sign_bytes(key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let alg = SigAlg::for_key(key.kind);
    let mut signer = Signer::new(alg.digest(), &key.key)?;
    signer.update(data)?;
    let sig = signer.sign_to_vec()?;
    if key.kind == KeyKind::EcP256 {
        let parsed = EcdsaSig::from_der(&sig)?;
        let mut raw = parsed.r().to_vec_padded(32)?;
        raw.extend(parsed.s().to_vec_padded(32)?);
        return Ok(raw);
    }
    Ok(sig)
}

/// Verifies a signature over `data` with any of `certs`.
pub fn verify_bytes(certs: &[X509], alg: SigAlg, data: &[u8], sig: &[u8]) -> bool {
    certs.iter().any(|c| {
        c.public_key()
            .map(|k| verify_with(&k, alg, data, sig))
            .unwrap_or(false)
    })
}

fn verify_with<T: HasPublic>(key: &PKeyRef<T>, alg: SigAlg, data: &[u8], sig: &[u8]) -> bool {
    let is_ec = key.id() == Id::EC;
    if is_ec != (alg == SigAlg::EcdsaSha256) {
        return false;
    }
    let der;
    let sig = if is_ec && sig.len() == 64 {
        let (r, s) = sig.split_at(32);
        let parts = BigNum::from_slice(r)
            .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
            .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
            .and_then(|e| e.to_der());
        match parts {
            Ok(d) => {
                der = d;
                &der[..]
            }
            Err(_) => return false,
        }
    } else {
        sig
    };
    let Ok(mut v) = Verifier::new(alg.digest(), key) else {
        return false;
    };
    v.update(data).is_ok() && v.verify(sig).unwrap_or(false)
}

/// Builds the signed element `<open>{head}<ds:Signature/>{tail}</close>` where `head` ends
/// after the `Issuer` (the schema's place for the signature). `element` is the canonical
/// element without its signature; `split` is where the signature goes.
pub fn sign_enveloped(
    element: &str,
    split: usize,
    id: &str,
    key: &SigningKey,
) -> Result<String, openssl::error::ErrorStack> {
    let digest = openssl::hash::hash(MessageDigest::sha256(), element.as_bytes())?;
    let alg = SigAlg::for_key(key.kind);
    let signed_info = |declare: bool| {
        let mut w = XmlWriter::new();
        let ns = [("xmlns:ds", DS)];
        w.open("ds:SignedInfo", if declare { &ns[..] } else { &[] })
            .leaf("ds:CanonicalizationMethod", &[("Algorithm", EXC_C14N)], "")
            .leaf("ds:SignatureMethod", &[("Algorithm", alg.uri())], "")
            .open("ds:Reference", &[("URI", &format!("#{id}"))])
            .open("ds:Transforms", &[])
            .leaf("ds:Transform", &[("Algorithm", ENVELOPED)], "")
            .leaf("ds:Transform", &[("Algorithm", EXC_C14N)], "")
            .close()
            .leaf(
                "ds:DigestMethod",
                &[("Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256")],
                "",
            )
            .leaf("ds:DigestValue", &[], &STANDARD.encode(digest))
            .close();
        w.finish()
    };
    // The canonical SignedInfo as its own apex declares `ds`; inside ds:Signature it inherits it.
    let value = sign_bytes(key, signed_info(true).as_bytes())?;
    let mut w = XmlWriter::new();
    w.open("ds:Signature", &[("xmlns:ds", DS)])
        .raw(&signed_info(false))
        .leaf("ds:SignatureValue", &[], &STANDARD.encode(value))
        .open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], &key.cert_b64);
    let signature = w.finish();
    Ok(format!(
        "{}{signature}{}",
        &element[..split],
        &element[split..]
    ))
}

fn ds_child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Result<Node<'a, 'i>, DsigError> {
    let mut it = node
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(DS))
        .filter(|c| c.tag_name().name() == name);
    match (it.next(), it.next()) {
        (Some(n), None) => Ok(n),
        (None, _) => Err(DsigError::Malformed("a required ds element is missing")),
        _ => Err(DsigError::Malformed("a ds element appears twice")),
    }
}

fn prefix_list<'a>(method: Node<'a, '_>) -> Vec<&'a str> {
    method
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "InclusiveNamespaces")
        .and_then(|n| n.attribute("PrefixList"))
        .map(|l| l.split_ascii_whitespace().collect())
        .unwrap_or_default()
}

/// The base64 content of a `ds:DigestValue` or `ds:SignatureValue` (XML-DSig §4.4.3.6,
/// §4.3): all its text, as the canonical `SignedInfo` carries it.
fn b64(node: Node) -> Result<Vec<u8>, DsigError> {
    let text = simple_text(node).ok_or(DsigError::Malformed("a value holds elements"))?;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| DsigError::Malformed("a value is not base64"))
}

/// Verifies the enveloped signature of the document's root element (SECURITY 3): exactly one
/// `ds:Signature` in the whole document, a direct child of the root, with one `Reference`
/// to the root's `ID`, enveloped + exclusive c14n transforms, checked with `certs` only
/// (any `KeyInfo` is ignored). Callers then read fields from this same root.
///
/// Every check that reads a few nodes (structure, algorithms, the digest's length, that there
/// is a certificate) runs before canonicalization, hashing and the public-key operation,
/// whose cost grows with the document (SECURITY 18).
pub fn verify_enveloped(doc: &Document, certs: &[X509], allow_sha1: bool) -> Result<(), DsigError> {
    let root = doc.root_element();
    let mut sigs = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().namespace() == Some(DS))
        .filter(|n| n.tag_name().name() == "Signature");
    let sig = match (sigs.next(), sigs.next()) {
        (None, _) => return Err(DsigError::Unsigned),
        (Some(s), None) => s,
        _ => return Err(DsigError::Malformed("more than one signature")),
    };
    if sig.parent_element() != Some(root) {
        return Err(DsigError::Malformed(
            "the signature is not a direct child of the request",
        ));
    }
    if certs.is_empty() {
        return Err(DsigError::NoCertificate);
    }
    // XML-DSig §4.4: SignedInfo holds exactly one CanonicalizationMethod and SignatureMethod;
    // SAML Core §5.4.2 allows exactly one Reference.
    let info = ds_child(sig, "SignedInfo")?;
    let c14n_method = ds_child(info, "CanonicalizationMethod")?;
    if c14n_method.attribute("Algorithm") != Some(EXC_C14N) {
        return Err(DsigError::Algorithm(
            c14n_method.attribute("Algorithm").unwrap_or("").into(),
        ));
    }
    let alg_uri = ds_child(info, "SignatureMethod")?
        .attribute("Algorithm")
        .unwrap_or("");
    let alg = SigAlg::from_uri(alg_uri).ok_or_else(|| DsigError::Algorithm(alg_uri.into()))?;
    if alg.is_sha1() && !allow_sha1 {
        return Err(DsigError::Sha1);
    }
    let reference = ds_child(info, "Reference")?;
    let id = root.attribute("ID").unwrap_or("");
    if id.is_empty() || reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(DsigError::Malformed(
            "the signature does not reference the request itself",
        ));
    }
    let mut inclusive = Vec::new();
    let mut enveloped = false;
    let mut exclusive = false;
    for t in ds_child(reference, "Transforms")?
        .children()
        .filter(|c| c.is_element())
    {
        match t.attribute("Algorithm") {
            Some(ENVELOPED) if !enveloped => enveloped = true,
            Some(EXC_C14N) if !exclusive => {
                exclusive = true;
                inclusive = prefix_list(t);
            }
            other => return Err(DsigError::Algorithm(other.unwrap_or("").into())),
        }
    }
    if !(enveloped && exclusive) {
        return Err(DsigError::Malformed(
            "the transforms must be enveloped-signature and exclusive c14n",
        ));
    }
    let digest_uri = ds_child(reference, "DigestMethod")?
        .attribute("Algorithm")
        .unwrap_or("");
    let (md, sha1) =
        digest_alg(digest_uri).ok_or_else(|| DsigError::Algorithm(digest_uri.into()))?;
    if sha1 && !allow_sha1 {
        return Err(DsigError::Sha1);
    }
    // XML-DSig §4.4.3.6: the DigestValue is the digest itself, so its length is the
    // algorithm's; checked here, before any work, and never handed to a comparison that
    // assumes equal lengths.
    let expected = b64(ds_child(reference, "DigestValue")?)?;
    if expected.len() != md.size() {
        return Err(DsigError::Malformed(
            "the DigestValue is not as long as a digest of its DigestMethod",
        ));
    }
    let value = b64(ds_child(sig, "SignatureValue")?)?;
    if value.is_empty() {
        return Err(DsigError::Malformed("the SignatureValue is empty"));
    }
    // XML-DSig §6.6.4 and Exc-C14N §3: the root without its own signature, canonical.
    let canonical = c14n::canonicalize(root, Some(sig.id()), &inclusive);
    let actual = openssl::hash::hash(md, canonical.as_bytes())
        .map_err(|_| DsigError::Malformed("digest"))?;
    // Constant time in the content; unequal lengths (excluded above) compare unequal.
    if !bool::from(actual[..].ct_eq(&expected[..])) {
        return Err(DsigError::Digest);
    }
    let signed_info = c14n::canonicalize(info, None, &prefix_list(c14n_method));
    if verify_bytes(certs, alg, signed_info.as_bytes(), &value) {
        Ok(())
    } else {
        Err(DsigError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::SigningKey;

    fn signed(key: &SigningKey) -> String {
        let mut w = XmlWriter::new();
        w.open("r:Req", &[("xmlns:r", "urn:r"), ("ID", "_abc")])
            .leaf("r:Issuer", &[], "sp")
            .leaf("r:Body", &[], "hello");
        let xml = w.finish();
        let split = xml.find("<r:Body>").unwrap();
        sign_enveloped(&xml, split, "_abc", key).unwrap()
    }

    fn digest_value(xml: &str) -> &str {
        let start = xml.find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
        let end = xml.find("</ds:DigestValue>").unwrap();
        &xml[start..end]
    }

    #[test]
    fn a_digest_value_of_the_wrong_length_is_refused_not_a_panic() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let xml = signed(&key);
        let good = digest_value(&xml).to_string();
        let long = STANDARD.encode([7u8; 64]);
        for bad in ["AAAA", "", long.as_str(), &good[..good.len() - 4]] {
            let changed = xml.replace(&good, bad);
            let doc = Document::parse(&changed).unwrap();
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                verify_enveloped(&doc, std::slice::from_ref(&key.cert), false)
            }));
            assert!(
                matches!(verdict, Ok(Err(DsigError::Malformed(_)))),
                "{bad:?}: {verdict:?}"
            );
        }
    }

    #[test]
    fn values_are_read_whole_around_comments_and_need_a_certificate() {
        let key = SigningKey::generate(KeyKind::EcP256).unwrap();
        let xml = signed(&key);
        let digest = digest_value(&xml).to_string();
        // c14n drops the comment, so SignedInfo still verifies; the value must be read whole.
        let split = xml.replace(
            &digest,
            &format!("{}<!-- -->{}", &digest[..10], &digest[10..]),
        );
        let doc = Document::parse(&split).unwrap();
        assert_eq!(
            verify_enveloped(&doc, std::slice::from_ref(&key.cert), false),
            Ok(())
        );
        let nested = xml.replace(&digest, &format!("<x/>{digest}"));
        let doc = Document::parse(&nested).unwrap();
        assert!(matches!(
            verify_enveloped(&doc, std::slice::from_ref(&key.cert), false),
            Err(DsigError::Malformed(_))
        ));
        let doc = Document::parse(&xml).unwrap();
        assert_eq!(
            verify_enveloped(&doc, &[], false),
            Err(DsigError::NoCertificate)
        );
    }

    /// Finding 1 of issue 11 at this layer: a validly shaped signature over a request nested
    /// far deeper than the parser's cap allows (a caller that parsed without the cap) is
    /// checked without recursion, on a small stack.
    #[test]
    fn a_deeply_nested_signed_document_verifies_without_recursion() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let mut w = XmlWriter::new();
        w.open("r:Req", &[("xmlns:r", "urn:r"), ("ID", "_deep")])
            .leaf("r:Issuer", &[], "sp");
        let split = w.len();
        w.open("r:Extensions", &[]);
        for _ in 0..50_000 {
            w.open("e", &[]);
        }
        let xml = sign_enveloped(&w.finish(), split, "_deep", &key).unwrap();
        let other = SigningKey::generate(KeyKind::Rsa).unwrap();
        let (ours, theirs) = crate::saml::xml::on_small_stack(|| {
            let doc = Document::parse(&xml).unwrap();
            (
                verify_enveloped(&doc, std::slice::from_ref(&key.cert), false),
                verify_enveloped(&doc, std::slice::from_ref(&other.cert), false),
            )
        });
        assert_eq!(ours, Ok(()));
        assert_eq!(theirs, Err(DsigError::BadSignature));
    }

    #[test]
    fn our_signatures_verify_and_tampering_fails() {
        for kind in [KeyKind::Rsa, KeyKind::EcP256] {
            let key = SigningKey::generate(kind).unwrap();
            let xml = signed(&key);
            let doc = Document::parse(&xml).unwrap();
            assert_eq!(
                verify_enveloped(&doc, std::slice::from_ref(&key.cert), false),
                Ok(())
            );
            let changed = xml.replace("hello", "hellO");
            let doc = Document::parse(&changed).unwrap();
            assert_eq!(
                verify_enveloped(&doc, std::slice::from_ref(&key.cert), false),
                Err(DsigError::Digest)
            );
            let other = SigningKey::generate(KeyKind::Rsa).unwrap();
            let doc = Document::parse(&xml).unwrap();
            assert_eq!(
                verify_enveloped(&doc, &[other.cert], false),
                Err(DsigError::BadSignature)
            );
        }
    }
}
