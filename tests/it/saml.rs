//! SAML documents an admin hands to an SP: per-app settings from the CLI, SP metadata
//! import, the IdP metadata and certificate.pem served over HTTP, and key rollover.

use std::time::Duration;

use sesame::directory::apps::{self, AppChanges};
use sesame::directory::Actor;

use crate::cli::Cli;
use crate::support::{test_config, Browser, TestDb, TestServer};

const SP_METADATA: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/saml">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs?tenant=2" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

#[test]
fn app_sso_settings_and_metadata_import_from_the_cli() {
    let cli = Cli::new();
    cli.ok(&["app", "add", "bluejeans", "--template", "bluejeans"]);
    let out = cli.ok(&[
        "app",
        "sso",
        "bluejeans",
        "--sp-entity-id",
        "https://bluejeans.com",
        "--acs-url",
        "https://bluejeans.com/acs",
        "--nameid-format",
        "persistent",
        "--nameid-source",
        "username",
        "--relay-state",
        "https://bluejeans.com/home",
    ]);
    assert!(
        out.contains("IdP URL (SSO, both bindings)  https://idp.example/saml2/bluejeans"),
        "{out}"
    );
    assert!(out.contains("ACS [0]*"), "{out}");
    cli.refused(
        &["app", "sso", "bluejeans", "--acs-url", "/relative"],
        "ACS URL",
    );
    cli.refused(
        &["app", "sso", "bluejeans", "--nameid-format", "x509"],
        "NameID format",
    );
    cli.refused(
        &[
            "app",
            "sso",
            "bluejeans",
            "--require-signed-requests",
            "true",
        ],
        "SP's certificate",
    );
    cli.refused(
        &["app", "sso", "bluejeans", "--relay-state", "a\nb"],
        "RelayState",
    );
    cli.refused(
        &["app", "sso", "nope", "--sp-entity-id", "x"],
        "no app with slug",
    );
    let bad_pem = cli.certs.path().join("bad.pem");
    std::fs::write(&bad_pem, "hello").unwrap();
    cli.refused(
        &[
            "app",
            "sso",
            "bluejeans",
            "--sp-cert",
            bad_pem.to_str().unwrap(),
        ],
        "PEM",
    );

    let file = cli.certs.path().join("sp.xml");
    std::fs::write(&file, SP_METADATA).unwrap();
    cli.ok(&["app", "add", "wiki", "--template", "generic"]);
    let out = cli.ok(&["app", "import-metadata", "wiki", file.to_str().unwrap()]);
    assert!(
        out.contains("SP entity id                  https://sp.example/saml"),
        "{out}"
    );
    assert!(out.contains("https://sp.example/acs?tenant=2"), "{out}");
    let doctype = cli.certs.path().join("evil.xml");
    std::fs::write(
        &doctype,
        format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{SP_METADATA}"),
    )
    .unwrap();
    cli.refused(
        &["app", "import-metadata", "wiki", doctype.to_str().unwrap()],
        "DOCTYPE",
    );

    let events = cli.ok(&["events", "--name", "app_sso_update", "--json"]);
    assert_eq!(
        events.lines().count(),
        2,
        "one event per accepted change: {events}"
    );

    // Keys: generated on demand, rollover through stage-next / activate-next.
    cli.refused(&["app", "cert", "wiki"], "no signing key");
    let first = cli.ok(&["cert", "generate"]);
    assert!(first.starts_with("active  Rsa"), "{first}");
    cli.refused(&["cert", "generate"], "already holds a signing key");
    let pem = cli.ok(&["app", "cert", "wiki"]);
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let staged = cli.ok(&["cert", "stage-next", "--ec"]);
    assert!(staged.contains("next    EcP256"), "{staged}");
    assert_eq!(
        cli.ok(&["app", "cert", "wiki"]),
        pem,
        "the active key signs until activation"
    );
    cli.ok(&["cert", "activate-next"]);
    assert_ne!(cli.ok(&["app", "cert", "wiki"]), pem);
    cli.refused(&["cert", "activate-next"], "no next key");
}

#[tokio::test]
async fn metadata_and_certificate_pem_are_served_per_app() {
    let db = TestDb::sqlite();
    let config = test_config(&db.url);
    let certs = config.certs_dir.clone();
    let server = TestServer::start_with(config).await;
    apps::add(
        &server.db,
        &Actor::system(),
        "bluejeans",
        "bluejeans",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    let mut b = Browser::new(&server);

    let cert = b.get("/saml2/bluejeans/certificate.pem").await;
    assert_eq!(cert.status, 200);
    assert_eq!(
        cert.headers["content-disposition"],
        "attachment; filename=\"certificate.pem\""
    );
    assert!(cert.body.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        cert.body,
        std::fs::read_to_string(certs.join("idp-signing.crt")).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(certs.join("idp-signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "private key readable by its owner only"
        );
    }

    let md = b.get("/saml2/bluejeans/metadata").await;
    assert_eq!(md.status, 200);
    assert_eq!(md.headers["content-type"], "application/samlmetadata+xml");
    let doc = roxmltree::Document::parse(&md.body).expect("well-formed metadata");
    let entity = doc.root_element();
    let sso_url = format!("http://{}/saml2/bluejeans", server.addr);
    assert_eq!(entity.attribute("entityID"), Some(sso_url.as_str()));
    let locations: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "SingleSignOnService")
        .map(|n| n.attribute("Location").unwrap())
        .collect();
    assert_eq!(locations, vec![sso_url.as_str(), sso_url.as_str()]);
    let published = |body: &str| -> Vec<String> {
        roxmltree::Document::parse(body)
            .unwrap()
            .descendants()
            .filter(|n| n.tag_name().name() == "X509Certificate")
            .map(|n| n.text().unwrap().to_string())
            .collect()
    };
    let pem_b64: String = cert
        .body
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(
        published(&md.body),
        vec![pem_b64.clone()],
        "metadata publishes the certificate.pem key"
    );

    assert_eq!(b.get("/saml2/nope/metadata").await.status, 404);
    assert_eq!(b.get("/saml2/nope/certificate.pem").await.status, 404);

    // Rollover while serving: a staged key shows up in metadata without a restart.
    sesame::saml::keys::stage_next(&certs, sesame::saml::keys::KeyKind::Rsa).unwrap();
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen = published(&b.get("/saml2/bluejeans/metadata").await.body);
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen.len(), 2, "active and next key published");
    assert_eq!(
        seen[0], pem_b64,
        "the active key is still first and still signs"
    );
    server.stop().await;
}
