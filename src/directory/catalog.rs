//! The application catalog: the templates an app is created from and their defaults.
//! SSO and provisioning defaults per template join this table as those features land.

use super::DirectoryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub color: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "generic",
        label: "SAML application",
        description: "Any SAML 2.0 service provider, with optional SCIM 2.0 provisioning",
        color: "#4b5563",
    },
    Template {
        name: "bluejeans",
        label: "BlueJeans",
        description: "Video meetings",
        color: "#2563eb",
    },
    Template {
        name: "thousandeyes",
        label: "ThousandEyes",
        description: "Network intelligence",
        color: "#f97316",
    },
    Template {
        name: "jive",
        label: "Jive",
        description: "Intranet and collaboration",
        color: "#16a34a",
    },
];

/// The templates matching a search box (name, label, description).
pub fn search(q: &str) -> Vec<&'static Template> {
    TEMPLATES
        .iter()
        .filter(|t| super::matches(q, &[t.name, t.label, t.description]))
        .collect()
}

pub fn template(name: &str) -> Result<&'static Template, DirectoryError> {
    TEMPLATES.iter().find(|t| t.name == name).ok_or_else(|| {
        let names: Vec<_> = TEMPLATES.iter().map(|t| t.name).collect();
        DirectoryError::Invalid(format!(
            "unknown template {name:?} (choose one of: {})",
            names.join(", ")
        ))
    })
}
