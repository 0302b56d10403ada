//! SAML 2.0 identity provider: keys and certificates, per-app settings, metadata, and
//! (as they land) the bindings, request validation and response signing.

pub mod attributes;
pub mod binding;
pub mod c14n;
pub mod cache;
pub mod context;
pub mod dsig;
pub mod encrypt;
pub mod fetch;
pub mod flow;
pub mod keyring;
pub mod keys;
pub mod logout;
pub mod metadata;
pub mod preview;
pub mod request;
pub mod response;
pub mod rollover;
pub mod settings;
pub mod validate;
pub mod xml;

/// Namespaces and identifiers from SAML Core / Bindings / Metadata 2.0 and XML-DSig.
pub mod ns {
    pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
}
