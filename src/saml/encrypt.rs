//! Encrypted assertions: the signed `Assertion` sent as a `saml:EncryptedAssertion` (SAML Core
//! §2.3.4, §6.1–6.2) holding one `xenc:EncryptedData` of `Type` Element (XML Encryption 1.1
//! §3.1, §3.4), whose fresh content key travels in an `xenc:EncryptedKey` inside its
//! `ds:KeyInfo` (§3.5.1), wrapped with the SP's RSA key. The checks an SP's encryption
//! certificate passes before it is stored are in `certificate`.
//!
//! Algorithms (XML Encryption 1.1 §5): content AES-256-GCM (§5.2.4: a 96-bit IV, the 128-bit
//! tag after the ciphertext), or, as the explicit legacy choice for SPs without GCM,
//! AES-128-CBC (§5.2.2). The key is always wrapped with RSA-OAEP, the `rsa-oaep-mgf1p`
//! identifier (§5.5.2: SHA-1 digest, MGF1 with SHA-1, no OAEP parameters). The newer
//! `xmlenc11#rsa-oaep` with a SHA-256 digest is not used: xmlsec1 1.2 (and pysaml2, which
//! decrypts with it) knows only `rsa-oaep-mgf1p` with SHA-1, as do many SAML stacks; SHA-1
//! inside OAEP needs no collision resistance. RSA PKCS#1 v1.5 key transport (§5.5.1,
//! Bleichenbacher-prone on the SP's side) is never written.
//!
//! Signed first, then encrypted (SAML Core §6.2): the SP decrypts, then checks the signature
//! over the very bytes it decrypted. Everything is written by `XmlWriter`, so the result stays
//! canonical inside a signed Response too (SECURITY 8, 10).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::error::ErrorStack;
use openssl::symm::{self, Cipher};
use serde::Serialize;

use super::ns::{ASSERTION, DS};
use super::xml::XmlWriter;
use crate::store::sso::SsoRow;

mod certificate;

pub use certificate::{CertError, SpEncryptionCert, MIN_RSA_BITS};

pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// `EncryptedData/@Type` for an encrypted element (XML Encryption 1.1 §3.1; SAML Core §6.1).
pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// The OAEP digest of `rsa-oaep-mgf1p` (XML Encryption 1.1 §5.5.2), written out explicitly.
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// How an app's assertions travel (`app_sso.encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(into = "&'static str")]
pub enum Encryption {
    /// A signed, readable `Assertion`.
    #[default]
    Off,
    /// AES-256-GCM content, RSA-OAEP key transport.
    Aes256Gcm,
    /// AES-128-CBC content, RSA-OAEP key transport: for SPs that cannot decrypt GCM (.NET's
    /// `EncryptedXml`, old xmlseclibs). CBC has no integrity of its own; only the assertion's
    /// signature stands between a changed ciphertext and the SP's decryptor.
    Legacy,
}

impl Encryption {
    pub const ALL: [Encryption; 3] = [Self::Off, Self::Aes256Gcm, Self::Legacy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Aes256Gcm => "aes256-gcm",
            Self::Legacy => "legacy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// For people: the algorithms the word stands for.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Off => "not encrypted",
            Self::Aes256Gcm => "AES-256-GCM, key wrapped with RSA-OAEP",
            Self::Legacy => "legacy: AES-128-CBC, key wrapped with RSA-OAEP",
        }
    }

    fn content(self) -> Option<Content> {
        match self {
            Self::Off => None,
            Self::Aes256Gcm => Some(Content::Aes256Gcm),
            Self::Legacy => Some(Content::Aes128Cbc),
        }
    }
}

impl From<Encryption> for &'static str {
    fn from(e: Encryption) -> Self {
        e.as_str()
    }
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The block encryption of the assertion itself (XML Encryption 1.1 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Aes256Gcm,
    Aes128Cbc,
}

impl Content {
    fn uri(self) -> &'static str {
        match self {
            Self::Aes256Gcm => AES256_GCM,
            Self::Aes128Cbc => AES128_CBC,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes256Gcm => 32,
            Self::Aes128Cbc => 16,
        }
    }

    /// The `CipherValue` octets: IV ‖ ciphertext ‖ tag for GCM (§5.2.4), IV ‖ ciphertext for
    /// CBC (§5.2.2, PKCS#7 padding, which is one of the paddings §5.2 allows and the one every
    /// decryptor accepts).
    fn seal(self, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        match self {
            Self::Aes256Gcm => {
                let mut iv = [0u8; 12];
                openssl::rand::rand_bytes(&mut iv)?;
                let mut tag = [0u8; 16];
                let ct = symm::encrypt_aead(
                    Cipher::aes_256_gcm(),
                    key,
                    Some(&iv),
                    &[],
                    plain,
                    &mut tag,
                )?;
                Ok([&iv[..], &ct, &tag].concat())
            }
            Self::Aes128Cbc => {
                let mut iv = [0u8; 16];
                openssl::rand::rand_bytes(&mut iv)?;
                let ct = symm::encrypt(Cipher::aes_128_cbc(), key, Some(&iv), plain)?;
                Ok([&iv[..], &ct].concat())
            }
        }
    }
}

/// What an app's assertions are encrypted with and to.
#[derive(Debug, Clone)]
pub struct Seal {
    content: Content,
    to: SpEncryptionCert,
    /// The SP's entity id, for `EncryptedKey/@Recipient` (SAML Core §2.2.4).
    recipient: String,
}

impl Seal {
    /// The app's sealing, or `None` when its assertions go unencrypted. An app whose stored
    /// certificate cannot be used is an error, never a readable assertion.
    pub fn for_app(row: &SsoRow) -> Result<Option<Seal>, CertError> {
        let Some(content) = row.encryption.content() else {
            return Ok(None);
        };
        Ok(Some(Seal {
            content,
            to: SpEncryptionCert::load(&row.sp_encryption_cert)?,
            recipient: row.sp_entity_id.clone(),
        }))
    }

    pub fn new(encryption: Encryption, to: SpEncryptionCert, recipient: &str) -> Option<Seal> {
        Some(Seal {
            content: encryption.content()?,
            to,
            recipient: recipient.to_string(),
        })
    }

    /// The `saml:EncryptedAssertion` for the signed, canonical `assertion` (SAML Core §2.3.4):
    /// a fresh content key and IV every time.
    pub fn encrypted_assertion(&self, assertion: &str) -> Result<String, ErrorStack> {
        let mut key = vec![0u8; self.content.key_len()];
        openssl::rand::rand_bytes(&mut key)?;
        let data = self.content.seal(&key, assertion.as_bytes())?;
        let wrapped = self.to.wrap(&key)?;
        key.fill(0);
        let mut w = XmlWriter::new();
        w.open("saml:EncryptedAssertion", &[("xmlns:saml", ASSERTION)])
            .open(
                "xenc:EncryptedData",
                &[("xmlns:xenc", XENC), ("Type", TYPE_ELEMENT)],
            )
            .leaf(
                "xenc:EncryptionMethod",
                &[("Algorithm", self.content.uri())],
                "",
            )
            .open("ds:KeyInfo", &[("xmlns:ds", DS)])
            // XML Encryption 1.1 §3.5.1; SAML Core §2.2.4: Recipient names the SP.
            .open("xenc:EncryptedKey", &[("Recipient", &self.recipient)])
            .open("xenc:EncryptionMethod", &[("Algorithm", RSA_OAEP_MGF1P)])
            .leaf("ds:DigestMethod", &[("Algorithm", SHA1)], "")
            .close()
            // Which of the SP's keys the content key is wrapped with (an SP may hold several).
            .open("ds:KeyInfo", &[])
            .open("ds:X509Data", &[])
            .leaf("ds:X509Certificate", &[], &self.to.b64)
            .close()
            .close()
            .open("xenc:CipherData", &[])
            .leaf("xenc:CipherValue", &[], &STANDARD.encode(wrapped))
            .close()
            .close()
            .close()
            .open("xenc:CipherData", &[])
            .leaf("xenc:CipherValue", &[], &STANDARD.encode(data));
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::certificate::tests::{cert_for, pem};
    use super::*;
    use crate::saml::keys::{KeyKind, SigningKey};
    use chrono::Utc;
    use openssl::encrypt::Decrypter;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::{Padding, Rsa};
    use roxmltree::{Document, Node};

    /// The SP's key pair and its checked certificate.
    fn sp() -> (PKey<Private>, SpEncryptionCert) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = SpEncryptionCert::check(&pem(&cert_for(&key, -1, 365)), Utc::now()).unwrap();
        (key, cert)
    }

    fn xenc<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
        n.descendants()
            .find(|c| c.has_tag_name((XENC, name)))
            .unwrap_or_else(|| panic!("no xenc:{name}"))
    }

    fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Node<'a, 'i> {
        n.children()
            .find(|c| c.has_tag_name((ns, name)))
            .unwrap_or_else(|| panic!("no {name} under {:?}", n.tag_name()))
    }

    fn b64_of(n: Node) -> Vec<u8> {
        STANDARD.decode(n.text().unwrap_or("")).unwrap()
    }

    /// What an SP does: unwrap the key with OAEP-SHA1/MGF1-SHA1, decrypt the content.
    fn decrypt(xml: &str, key: &PKey<Private>) -> String {
        let doc = Document::parse(xml).unwrap();
        let data = xenc(doc.root_element(), "EncryptedData");
        let ek = xenc(data, "EncryptedKey");
        let wrapped = b64_of(xenc(xenc(ek, "CipherData"), "CipherValue"));
        let mut d = Decrypter::new(key).unwrap();
        d.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        d.set_rsa_oaep_md(MessageDigest::sha1()).unwrap();
        d.set_rsa_mgf1_md(MessageDigest::sha1()).unwrap();
        let mut cek = vec![0; d.decrypt_len(&wrapped).unwrap()];
        let n = d.decrypt(&wrapped, &mut cek).unwrap();
        cek.truncate(n);
        let body = b64_of(xenc(child(data, XENC, "CipherData"), "CipherValue"));
        let method = child(data, XENC, "EncryptionMethod")
            .attribute("Algorithm")
            .unwrap();
        let plain = match method {
            AES256_GCM => {
                assert_eq!(cek.len(), 32);
                let (iv, rest) = body.split_at(12);
                let (ct, tag) = rest.split_at(rest.len() - 16);
                symm::decrypt_aead(Cipher::aes_256_gcm(), &cek, Some(iv), &[], ct, tag).unwrap()
            }
            AES128_CBC => {
                assert_eq!(cek.len(), 16);
                let (iv, ct) = body.split_at(16);
                symm::decrypt(Cipher::aes_128_cbc(), &cek, Some(iv), ct).unwrap()
            }
            other => panic!("unexpected content algorithm {other}"),
        };
        String::from_utf8(plain).unwrap()
    }

    /// A signed assertion as `response` writes them.
    fn signed_assertion(idp: &SigningKey) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "saml:Assertion",
            &[("xmlns:saml", ASSERTION), ("ID", "_a1"), ("Version", "2.0")],
        )
        .leaf("saml:Issuer", &[], "https://idp.example");
        let split = w.len();
        w.open("saml:Subject", &[])
            .leaf("saml:NameID", &[], "alice@example.com");
        crate::saml::dsig::sign_enveloped(&w.finish(), split, "_a1", idp).unwrap()
    }

    #[test]
    fn aes256_gcm_round_trip_and_the_signature_still_verifies() {
        let (key, cert) = sp();
        let idp = SigningKey::generate(KeyKind::Rsa).unwrap();
        let assertion = signed_assertion(&idp);
        let seal = Seal::new(Encryption::Aes256Gcm, cert, "https://sp.example").unwrap();
        let xml = seal.encrypted_assertion(&assertion).unwrap();
        assert!(!xml.contains("alice"), "nothing of the assertion shows");
        assert!(!xml.contains("<saml:Assertion"), "{xml}");
        let doc = Document::parse(&xml).unwrap();
        assert!(doc
            .root_element()
            .has_tag_name((ASSERTION, "EncryptedAssertion")));
        assert_eq!(
            crate::saml::c14n::canonicalize(doc.root_element(), None, &[]),
            xml,
            "canonical as written"
        );
        let data = child(doc.root_element(), XENC, "EncryptedData");
        assert_eq!(data.attribute("Type"), Some(TYPE_ELEMENT));
        assert_eq!(
            child(data, XENC, "EncryptionMethod").attribute("Algorithm"),
            Some(AES256_GCM)
        );
        let plain = decrypt(&xml, &key);
        assert_eq!(plain, assertion, "the signed bytes come back whole");
        let adoc = Document::parse(&plain).unwrap();
        crate::saml::dsig::verify_enveloped(&adoc, std::slice::from_ref(&idp.cert), false)
            .expect("the decrypted assertion's signature");

        // GCM's tag guards the content: one changed byte and decryption fails.
        let body = b64_of(xenc(child(data, XENC, "CipherData"), "CipherValue"));
        let mut bad = body.clone();
        bad[20] ^= 1;
        let ek = xenc(data, "EncryptedKey");
        let wrapped = b64_of(xenc(xenc(ek, "CipherData"), "CipherValue"));
        let mut d = Decrypter::new(&key).unwrap();
        d.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        let mut cek = vec![0; d.decrypt_len(&wrapped).unwrap()];
        let n = d.decrypt(&wrapped, &mut cek).unwrap();
        let (iv, rest) = bad.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        assert!(
            symm::decrypt_aead(Cipher::aes_256_gcm(), &cek[..n], Some(iv), &[], ct, tag).is_err()
        );
    }

    #[test]
    fn legacy_is_aes128_cbc_with_the_same_key_transport() {
        let (key, cert) = sp();
        let idp = SigningKey::generate(KeyKind::EcP256).unwrap();
        let assertion = signed_assertion(&idp);
        let seal = Seal::new(Encryption::Legacy, cert, "https://sp.example").unwrap();
        let xml = seal.encrypted_assertion(&assertion).unwrap();
        let doc = Document::parse(&xml).unwrap();
        let data = child(doc.root_element(), XENC, "EncryptedData");
        assert_eq!(
            child(data, XENC, "EncryptionMethod").attribute("Algorithm"),
            Some(AES128_CBC)
        );
        let ek = xenc(data, "EncryptedKey");
        assert_eq!(
            child(ek, XENC, "EncryptionMethod").attribute("Algorithm"),
            Some(RSA_OAEP_MGF1P),
            "never RSA 1.5"
        );
        let body = b64_of(xenc(child(data, XENC, "CipherData"), "CipherValue"));
        assert_eq!((body.len() - 16) % 16, 0, "IV, then whole blocks");
        assert_eq!(decrypt(&xml, &key), assertion);
    }

    #[test]
    fn the_key_transport_is_written_and_done_as_the_spec_says() {
        let (key, cert) = sp();
        let der_b64 = cert.b64.clone();
        let seal = Seal::new(Encryption::Aes256Gcm, cert, "https://sp.example/\"x\"").unwrap();
        let xml = seal.encrypted_assertion("<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"></saml:Assertion>").unwrap();
        let doc = Document::parse(&xml).unwrap();
        let data = child(doc.root_element(), XENC, "EncryptedData");
        // The EncryptedKey sits in the EncryptedData's ds:KeyInfo (XML Enc 1.1 §3.5.1).
        let info = child(data, DS, "KeyInfo");
        let ek = child(info, XENC, "EncryptedKey");
        assert_eq!(ek.attribute("Recipient"), Some("https://sp.example/\"x\""));
        let method = child(ek, XENC, "EncryptionMethod");
        assert_eq!(method.attribute("Algorithm"), Some(RSA_OAEP_MGF1P));
        let elements: Vec<_> = method
            .children()
            .filter(|c| c.is_element())
            .map(|c| (c.tag_name().namespace(), c.tag_name().name()))
            .collect();
        assert_eq!(
            elements,
            [(Some(DS), "DigestMethod")],
            "SHA-1 digest only: no OAEPparams, no MGF (that is xmlenc11#rsa-oaep's)"
        );
        assert_eq!(
            child(method, DS, "DigestMethod").attribute("Algorithm"),
            Some(SHA1)
        );
        // The element order of EncryptedType (XML Enc 1.1 §3.1).
        let order: Vec<_> = ek
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(order, ["EncryptionMethod", "KeyInfo", "CipherData"]);
        let x509 = child(
            child(child(ek, DS, "KeyInfo"), DS, "X509Data"),
            DS,
            "X509Certificate",
        );
        assert_eq!(x509.text(), Some(der_b64.as_str()));
        let order: Vec<_> = data
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(order, ["EncryptionMethod", "KeyInfo", "CipherData"]);

        // The wrapped key opens with OAEP SHA-1/MGF1-SHA-1 and nothing else.
        let wrapped = b64_of(xenc(xenc(ek, "CipherData"), "CipherValue"));
        assert_eq!(wrapped.len(), 256, "one RSA-2048 block");
        let open = |pad: Padding, md: Option<MessageDigest>| {
            let mut d = Decrypter::new(&key).unwrap();
            d.set_rsa_padding(pad).unwrap();
            if let Some(md) = md {
                d.set_rsa_oaep_md(md).unwrap();
                d.set_rsa_mgf1_md(MessageDigest::sha1()).unwrap();
            }
            let mut out = vec![0; d.decrypt_len(&wrapped).unwrap()];
            d.decrypt(&wrapped, &mut out).map(|n| out[..n].to_vec())
        };
        assert_eq!(
            open(Padding::PKCS1_OAEP, Some(MessageDigest::sha1()))
                .unwrap()
                .len(),
            32
        );
        assert!(open(Padding::PKCS1_OAEP, Some(MessageDigest::sha256())).is_err());
        assert!(
            open(Padding::PKCS1, None).map_or(true, |k| k.len() != 32),
            "not PKCS#1 v1.5"
        );

        // A fresh key and IV every time.
        let again = seal.encrypted_assertion("<x></x>").unwrap();
        let other = seal.encrypted_assertion("<x></x>").unwrap();
        assert_ne!(again, other);
    }

    #[test]
    fn words_and_off() {
        for e in Encryption::ALL {
            assert_eq!(Encryption::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Encryption::parse("aes128-cbc"), None);
        assert_eq!(Encryption::default(), Encryption::Off);
        let (_, cert) = sp();
        assert!(Seal::new(Encryption::Off, cert, "x").is_none());
        let row = SsoRow::default();
        assert!(Seal::for_app(&row).unwrap().is_none());
        let row = SsoRow {
            encryption: Encryption::Aes256Gcm,
            ..SsoRow::default()
        };
        assert_eq!(
            Seal::for_app(&row).unwrap_err(),
            CertError::NotPem,
            "on without a usable certificate is an error, not plaintext"
        );
    }
}
