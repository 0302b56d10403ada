//! IdP metadata for one app (SAML Metadata 2.0 §2.4.3) and the SP-metadata importer that
//! fills an app's SP entity id, ACS URLs, signing certificates and encryption certificate.

use chrono::{Duration, Utc};

use super::dsig;
use super::encrypt::SpEncryptionCert;
use super::keys::{KeySet, SigningKey};
use super::ns;
use super::response::{instant, new_id};
use super::settings::{NameIdFormat, SsoChanges};
use super::xml::{self, ParseError, XmlWriter};

/// How long an SP may keep our metadata before fetching it again (Metadata §2.3.2
/// `cacheDuration`): an hour, so a staged next key reaches SPs that refetch well before it
/// is activated.
pub const CACHE_DURATION: &str = "PT1H";

/// How long a signed copy of the metadata is good for: a signed document is trusted by
/// whoever holds it, so one captured before a key rollover must not outlive it by long.
pub const SIGNED_VALIDITY: Duration = Duration::days(7);

/// `validUntil` (Metadata §2.3.2): the end of the shortest-lived published certificate (the
/// metadata cannot be good for longer than the keys in it), and for a signed document at
/// most `SIGNED_VALIDITY` from now. An unsigned copy is fetched again by SPs that refresh
/// (`cacheDuration`); many SPs load it once from a file, which a short `validUntil` would
/// break.
fn valid_until(keys: &KeySet, signed: bool) -> Option<String> {
    let now = Utc::now();
    let today = openssl::asn1::Asn1Time::from_unix(now.timestamp()).ok()?;
    let certs = keys
        .published()
        .iter()
        .filter_map(|k| today.diff(k.cert.not_after()).ok())
        .map(|d| now + Duration::days(i64::from(d.days)) + Duration::seconds(i64::from(d.secs)))
        .min()?;
    Some(instant(if signed {
        certs.min(now + SIGNED_VALIDITY)
    } else {
        certs
    }))
}

/// The `EntityDescriptor` an SP loads: every published key (active and staged next), the
/// Single Logout service, the NameID formats, and the SSO service for both bindings at the
/// app's IdP URL (elements in the schema's order, Metadata §2.4.2–2.4.3). With `sign_with`,
/// the document carries an enveloped signature by that key as its first child (§3).
pub fn idp_metadata(
    entity_id: &str,
    sso_url: &str,
    keys: &KeySet,
    want_signed_requests: bool,
    sign_with: Option<&SigningKey>,
) -> Result<String, openssl::error::ErrorStack> {
    let slo_url = format!("{sso_url}/slo");
    let id = new_id();
    let until = valid_until(keys, sign_with.is_some());
    let mut attrs = vec![
        ("xmlns:md", ns::MD),
        ("ID", id.as_str()),
        ("cacheDuration", CACHE_DURATION),
        ("entityID", entity_id),
    ];
    if let Some(u) = &until {
        attrs.push(("validUntil", u));
    }
    let mut w = XmlWriter::new();
    w.open("md:EntityDescriptor", &attrs);
    let split = w.len();
    let want = if want_signed_requests {
        "true"
    } else {
        "false"
    };
    w.open(
        "md:IDPSSODescriptor",
        &[
            ("WantAuthnRequestsSigned", want),
            ("protocolSupportEnumeration", ns::PROTOCOL),
        ],
    );
    for key in keys.published() {
        w.open("md:KeyDescriptor", &[("use", "signing")])
            .open("ds:KeyInfo", &[("xmlns:ds", ns::DS)])
            .open("ds:X509Data", &[])
            .leaf("ds:X509Certificate", &[], &key.cert_b64)
            .close()
            .close()
            .close();
    }
    for binding in [ns::BINDING_REDIRECT, ns::BINDING_POST] {
        w.leaf(
            "md:SingleLogoutService",
            &[("Binding", binding), ("Location", &slo_url)],
            "",
        );
    }
    for f in NameIdFormat::ALL {
        w.leaf("md:NameIDFormat", &[], f.urn());
    }
    for binding in [ns::BINDING_REDIRECT, ns::BINDING_POST] {
        w.open(
            "md:SingleSignOnService",
            &[("Binding", binding), ("Location", sso_url)],
        )
        .close();
    }
    let xml = w.finish();
    match sign_with {
        Some(key) => dsig::sign_enveloped(&xml, split, &id, key),
        None => Ok(xml),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("SP metadata must not contain a DOCTYPE")]
    Doctype,
    #[error("SP metadata is larger than {0} bytes")]
    TooLarge(usize),
    #[error("SP metadata is not well-formed XML: {0}")]
    Xml(String),
    #[error("SP metadata nests elements more than {} levels deep", xml::MAX_DEPTH)]
    TooDeep,
    #[error("SP metadata has no SPSSODescriptor")]
    NoSp,
    #[error("SP metadata has no AssertionConsumerService with the HTTP-POST binding")]
    NoAcs,
}

pub const MAX_METADATA: usize = 1024 * 1024;

// Fetching SP metadata by URL, with its address checks, is `super::fetch`.

/// What an SP's metadata tells us, as settings changes.
/// The SP's `index` values; endpoints without one get the next free numbers.
fn indexes(acs: &[(i64, bool, String)]) -> Vec<i64> {
    let mut next = acs
        .iter()
        .map(|(i, _, _)| *i)
        .filter(|i| *i != i64::MAX)
        .max()
        .map_or(0, |m| m + 1);
    acs.iter()
        .map(|(i, _, _)| {
            if *i == i64::MAX {
                next += 1;
                next - 1
            } else {
                *i
            }
        })
        .collect()
}

pub fn parse_sp_metadata(xml: &str) -> Result<SsoChanges, MetadataError> {
    if xml.len() > MAX_METADATA {
        return Err(MetadataError::TooLarge(MAX_METADATA));
    }
    // The size cap above bounds the node count; depth and DOCTYPE as for requests.
    let doc = xml::parse_untrusted(xml, u32::MAX).map_err(|e| match e {
        ParseError::Doctype => MetadataError::Doctype,
        ParseError::TooDeep => MetadataError::TooDeep,
        ParseError::Xml(m) => MetadataError::Xml(m),
    })?;
    let is = |n: &roxmltree::Node, name: &str| {
        n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns::MD)
    };
    let sp = doc
        .descendants()
        .find(|n| is(n, "SPSSODescriptor"))
        .ok_or(MetadataError::NoSp)?;
    let entity = sp
        .ancestors()
        .find(|n| is(n, "EntityDescriptor"))
        .ok_or(MetadataError::NoSp)?;
    let mut acs: Vec<(i64, bool, String)> = sp
        .children()
        .filter(|n| {
            is(n, "AssertionConsumerService") && n.attribute("Binding") == Some(ns::BINDING_POST)
        })
        .filter_map(|n| {
            let url = n.attribute("Location")?.to_string();
            // `index` is an xs:unsignedShort (Metadata §2.2.3, IndexedEndpointType); a value
            // outside it counts as absent, so the numbers handed out cannot overflow.
            let index = n
                .attribute("index")
                .and_then(|i| i.trim().parse::<u16>().ok())
                .map_or(i64::MAX, i64::from);
            Some((index, n.attribute("isDefault") == Some("true"), url))
        })
        .collect();
    if acs.is_empty() {
        return Err(MetadataError::NoAcs);
    }
    // The default endpoint first (it becomes index 0 here), then by the SP's index order.
    acs.sort_by_key(|(index, default, _)| (!default, *index));
    let certs_of = |usable: &dyn Fn(Option<&str>) -> bool| -> Vec<String> {
        sp.children()
            .filter(|n| is(n, "KeyDescriptor") && usable(n.attribute("use")))
            .flat_map(|kd| kd.descendants())
            .filter(|n| n.is_element() && n.tag_name().name() == "X509Certificate")
            .map(pem_of)
            .collect()
    };
    // Metadata §2.4.1.1: a KeyDescriptor without `use` serves both signing and encryption.
    let certs = certs_of(&|u| u != Some("encryption")).concat();
    // The first encryption key that can be used now, an explicit one before a shared one.
    let encryption_cert = [
        certs_of(&|u| u == Some("encryption")),
        certs_of(&|u| u.is_none()),
    ]
    .concat()
    .into_iter()
    .find(|pem| SpEncryptionCert::check(pem, Utc::now()).is_ok())
    .unwrap_or_default();
    let signed = sp.attribute("AuthnRequestsSigned") == Some("true");
    // Single Logout (Metadata §2.2.2, §2.4.2): the Redirect endpoint if there is one, else
    // POST; sesame sends nothing over SOAP or Artifact.
    let slo = [
        (ns::BINDING_REDIRECT, "redirect"),
        (ns::BINDING_POST, "post"),
    ]
    .into_iter()
    .find_map(|(uri, name)| {
        sp.children()
            .find(|n| is(n, "SingleLogoutService") && n.attribute("Binding") == Some(uri))
            .and_then(|n| {
                let url = n.attribute("Location")?.to_string();
                let response = n.attribute("ResponseLocation").unwrap_or_default();
                Some((url, response.to_string(), name.to_string()))
            })
    });
    let (slo_url, slo_response_url, slo_binding) = match slo {
        Some((u, r, b)) => (Some(u), Some(r), Some(b)),
        None => (None, None, None),
    };
    Ok(SsoChanges {
        slo_url,
        slo_response_url,
        slo_binding,
        sp_entity_id: entity.attribute("entityID").map(str::to_string),
        acs_indexes: Some(indexes(&acs)),
        acs_urls: Some(acs.into_iter().map(|(_, _, u)| u).collect()),
        require_signed_requests: Some(signed && !certs.is_empty()),
        sp_certs_pem: Some(certs),
        sp_encryption_cert_pem: Some(encryption_cert),
        ..SsoChanges::default()
    })
}

/// A `ds:X509Certificate` as PEM: its base64 read whole (comments and line breaks dropped).
fn pem_of(c: roxmltree::Node) -> String {
    let text = xml::simple_text(c).unwrap_or_default();
    let b64: String = text.split_whitespace().collect();
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/meta">
  <md:SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/art" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs2" index="2"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs1" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn sp_metadata_gives_entity_and_post_acs_default_first() {
        let c = parse_sp_metadata(SP).unwrap();
        assert_eq!(c.sp_entity_id.as_deref(), Some("https://sp.example/meta"));
        assert_eq!(
            c.acs_urls.unwrap(),
            vec!["https://sp.example/acs1", "https://sp.example/acs2"]
        );
        assert_eq!(
            c.acs_indexes.unwrap(),
            vec![1, 2],
            "the SP's own indexes, for AssertionConsumerServiceIndex"
        );
        assert_eq!(c.require_signed_requests, Some(false));
    }

    #[test]
    fn an_index_outside_unsigned_short_counts_as_absent() {
        // i64::MAX - 1 once made the next free number overflow.
        let sp = SP
            .replace("index=\"2\"", "index=\"9223372036854775806\"")
            .replace(" index=\"1\" isDefault", " isDefault");
        let c = parse_sp_metadata(&sp).unwrap();
        assert_eq!(c.acs_indexes.unwrap(), vec![0, 1]);
    }

    #[test]
    fn hostile_metadata_is_refused() {
        let bomb = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{SP}");
        assert!(matches!(
            parse_sp_metadata(&bomb),
            Err(MetadataError::Doctype)
        ));
        assert!(matches!(
            parse_sp_metadata("<x"),
            Err(MetadataError::Xml(_))
        ));
        assert!(matches!(
            parse_sp_metadata("<x/>"),
            Err(MetadataError::NoSp)
        ));
        assert!(matches!(
            parse_sp_metadata(&"x".repeat(MAX_METADATA + 1)),
            Err(MetadataError::TooLarge(_))
        ));
        // Issue 11, finding 1, for the other parser of outside XML.
        let deep = SP.replace(
            "</md:SPSSODescriptor>",
            &format!(
                "<md:Extensions>{}{}</md:Extensions></md:SPSSODescriptor>",
                "<x>".repeat(100_000),
                "</x>".repeat(100_000)
            ),
        );
        let verdict = crate::saml::xml::on_small_stack(|| parse_sp_metadata(&deep).err());
        assert!(
            matches!(verdict, Some(MetadataError::TooDeep)),
            "{verdict:?}"
        );
    }

    #[test]
    fn certificates_are_read_whole() {
        let key =
            super::super::keys::SigningKey::generate(super::super::keys::KeyKind::Rsa).unwrap();
        let (head, tail) = key.cert_b64.split_at(40);
        let with_cert = SP.replace(
            "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\"",
            &format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
                 <ds:X509Data><ds:X509Certificate>{head}<!-- -->\n{tail}</ds:X509Certificate>\
                 </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
                 <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\""
            ),
        );
        let pem = parse_sp_metadata(&with_cert).unwrap().sp_certs_pem.unwrap();
        let certs = openssl::x509::X509::stack_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].to_der().unwrap(), key.cert.to_der().unwrap());
    }

    #[test]
    fn the_encryption_certificate_is_the_first_usable_one_for_encryption() {
        use super::super::keys::{KeyKind, SigningKey};
        let descriptor = |usage: &str, key: &SigningKey| {
            format!(
                "<md:KeyDescriptor{usage}><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
                 <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data>\
                 </ds:KeyInfo></md:KeyDescriptor>",
                key.cert_b64
            )
        };
        let with = |descriptors: &[String]| {
            SP.replace(
                "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\"",
                &format!(
                    "{}<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\"",
                    descriptors.concat()
                ),
            )
        };
        let signing = SigningKey::generate(KeyKind::Rsa).unwrap();
        let ec = SigningKey::generate(KeyKind::EcP256).unwrap();
        let enc = SigningKey::generate(KeyKind::Rsa).unwrap();
        let c = parse_sp_metadata(&with(&[
            descriptor(" use=\"signing\"", &signing),
            descriptor(" use=\"encryption\"", &ec),
            descriptor(" use=\"encryption\"", &enc),
        ]))
        .unwrap();
        assert_eq!(
            c.sp_encryption_cert_pem.as_deref(),
            Some(enc.cert_pem.as_str())
        );
        assert_eq!(c.sp_certs_pem.as_deref(), Some(signing.cert_pem.as_str()));

        // Without `use`, a key serves both (Metadata §2.4.1.1); an explicit one goes first.
        let c = parse_sp_metadata(&with(&[descriptor("", &signing)])).unwrap();
        assert_eq!(c.sp_encryption_cert_pem, c.sp_certs_pem);
        let c = parse_sp_metadata(&with(&[
            descriptor("", &signing),
            descriptor(" use=\"encryption\"", &enc),
        ]))
        .unwrap();
        assert_eq!(
            c.sp_encryption_cert_pem.as_deref(),
            Some(enc.cert_pem.as_str())
        );

        // None usable, or none at all: none (an app that encrypts then says what is missing).
        let c = parse_sp_metadata(&with(&[descriptor(" use=\"encryption\"", &ec)])).unwrap();
        assert_eq!(c.sp_encryption_cert_pem.as_deref(), Some(""));
        let c = parse_sp_metadata(SP).unwrap();
        assert_eq!(c.sp_encryption_cert_pem.as_deref(), Some(""));
    }

    #[test]
    fn idp_metadata_publishes_keys_and_both_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let keys = super::super::keys::stage_next(dir.path(), super::super::keys::KeyKind::EcP256)
            .or_else(|_| {
                super::super::keys::generate(dir.path(), super::super::keys::KeyKind::Rsa, false)?;
                super::super::keys::stage_next(dir.path(), super::super::keys::KeyKind::EcP256)
            })
            .unwrap();
        let xml = idp_metadata(
            "https://idp/saml2/app",
            "https://idp/saml2/app",
            &keys,
            false,
            None,
        )
        .unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("cacheDuration"), Some(CACHE_DURATION));
        // The certificates live 10 years: so does the document, not a day longer.
        let until = root.attribute("validUntil").unwrap();
        let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
        let years = (until.with_timezone(&Utc) - Utc::now()).num_days() / 365;
        assert_eq!(years, 9, "{until}");
        assert_eq!(
            doc.root_element().attribute("entityID"),
            Some("https://idp/saml2/app")
        );
        let certs = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "X509Certificate")
            .count();
        assert_eq!(certs, 2, "active and next key");
        let bindings: Vec<_> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "SingleSignOnService")
            .map(|n| n.attribute("Binding").unwrap())
            .collect();
        assert_eq!(bindings, vec![ns::BINDING_REDIRECT, ns::BINDING_POST]);
    }

    #[test]
    fn signed_metadata_verifies_with_the_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys =
            super::super::keys::generate(dir.path(), super::super::keys::KeyKind::EcP256, false)
                .unwrap();
        let xml = idp_metadata(
            "https://idp/a",
            "https://idp/a",
            &keys,
            true,
            Some(&keys.active),
        )
        .unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let until = doc.root_element().attribute("validUntil").unwrap();
        let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
        let days = (until.with_timezone(&Utc) - Utc::now()).num_hours();
        assert!((7 * 24 - 1..=7 * 24).contains(&days), "a week: {until}");
        let first = doc.root_element().first_element_child().unwrap();
        assert!(first.has_tag_name((ns::DS, "Signature")), "the first child");
        dsig::verify_enveloped(&doc, std::slice::from_ref(&keys.active.cert), false).unwrap();
        let other =
            super::super::keys::SigningKey::generate(super::super::keys::KeyKind::Rsa).unwrap();
        assert!(dsig::verify_enveloped(&doc, &[other.cert], false).is_err());
    }
}
