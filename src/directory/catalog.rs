//! The application catalog: the templates an app is created from, their defaults, and the
//! vendor's own set-up steps (from the vendor guides: JumpCloud's BlueJeans guide, Entra's
//! BlueJeans, ThousandEyes and Jive provisioning tutorials), shown on the app's SSO and
//! Identity Management tabs. A template's provisioning defaults (base URL, userName limit,
//! authentication, attribute set) are its connector's (`scim::target::CONNECTORS`).

use super::DirectoryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub color: &'static str,
    pub guide: Guide,
}

/// What the admin does at the vendor, in order, and what its guide warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guide {
    /// Setting up SAML single sign-on at the vendor.
    pub sso: &'static [&'static str],
    /// Getting the SCIM base URL and credential at the vendor.
    pub idm: &'static [&'static str],
    /// The vendor's limits and caveats.
    pub notes: &'static [&'static str],
}

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "generic",
        label: "SAML application",
        description: "Any SAML 2.0 service provider, with optional SCIM 2.0 provisioning",
        color: "#4b5563",
        guide: Guide {
            sso: &[
                "Import the application's SAML metadata below (a file, the text, or its URL): it fills in the SP entity id, the ACS URLs and its certificates. Without metadata, enter its entity id and ACS URL under Service provider settings.",
                "In the application's single sign-on settings, enter the IdP URL and the IdP entity id shown under What to give the SP, and upload certificate.pem (or give it the IdP metadata URL).",
                "Bind a group on the User Groups tab: its members see the tile in their portal and may sign in.",
            ],
            idm: &[
                "In the application's admin settings, switch on SCIM 2.0 provisioning and create an API token for sesame.",
                "Enter the application's SCIM base URL and the token here, save, and press Test connection.",
                "Activate: the members of the bound groups are created within seconds, and deactivated when they leave.",
            ],
            notes: &[],
        },
    },
    Template {
        name: "bluejeans",
        label: "BlueJeans",
        description: "Video meetings",
        color: "#2563eb",
        guide: Guide {
            sso: &[
                "Sign in to BlueJeans as an administrator and open Admin, then Security, then SAML Single Sign On.",
                "Under Certificate Path, upload certificate.pem (download it below). As the Login URL, paste the IdP URL shown below.",
                "Fill in the User ID and Email fields for your organisation. If the User ID field is not shown, untick \"Pick User ID from <saml2:NameID> element\".",
                "Copy the RelayState value BlueJeans shows into Default RelayState under Service provider settings here, and save both sides.",
                "Bind a group on the User Groups tab: its members can then open BlueJeans from the portal.",
            ],
            idm: &[
                "In the BlueJeans admin console open Group Settings, then Security, then Single Sign On, and choose Configure Now.",
                "In the Provision & Integration window choose \"Create and manage user accounts through IDP\" and press Generate Token. Copy the token.",
                "Paste the token here (the SCIM URL is already BlueJeans' https://api.bluejeans.com/v2/scim), save, press Test connection, then Activate.",
            ],
            notes: &[
                "BlueJeans refuses userNames longer than 30 characters: such users are reported one by one and not sent.",
                "BlueJeans takes userName, externalId (employee ID), active, given and family name, email, title and phone; the manager attribute is not in its set and is not sent unless you include it.",
                "Deprovisioning a user who owns more than 250 recordings fails at BlueJeans; the failure shows in the events.",
                "BlueJeans supports password synchronisation; sesame does not send passwords yet.",
            ],
        },
    },
    Template {
        name: "thousandeyes",
        label: "ThousandEyes",
        description: "Network intelligence",
        color: "#f97316",
        guide: Guide {
            sso: &[
                "Import ThousandEyes' SAML metadata below, or enter its SP entity id and ACS URL under Service provider settings.",
                "In ThousandEyes' single sign-on settings, enter the IdP URL as the login page and upload certificate.pem.",
                "Bind a group on the User Groups tab. Start with one test user; add the others once it works.",
            ],
            idm: &[
                "ThousandEyes' SCIM API needs the Standard plan or better, and an account with Admin permissions.",
                "In ThousandEyes open your account's Security & Authentication settings and copy the secret token.",
                "Enter your ThousandEyes SCIM base URL and the token here, save, and press Test connection. If it fails, check that the account has Admin permissions and enter the token again.",
                "Activate. Only the members of the groups bound to this app are provisioned.",
            ],
            notes: &[
                "ThousandEyes signs its users in by e-mail address: the template maps userName from the user's email (userName = [email] on the Identity Management tab).",
                "It takes a bearer token only.",
                "Provision one test user first; bind the remaining groups once it arrived.",
            ],
        },
    },
    Template {
        name: "jive",
        label: "Jive",
        description: "Intranet and collaboration",
        color: "#16a34a",
        guide: Guide {
            sso: &[
                "Import Jive's SAML metadata below, or enter its SP entity id and ACS URL under Service provider settings.",
                "In Jive's single sign-on settings, enter the IdP URL and upload certificate.pem.",
                "Bind a group on the User Groups tab.",
            ],
            idm: &[
                "Jive is provisioned with HTTP basic authentication: use the user name and password of a Jive account with the System Administrator profile.",
                "The tenant URL is the address your organisation signs in to Jive at, typically https://www.<organization>.jive.com: enter the SCIM base URL under it.",
                "Save, press Test connection, then Activate.",
            ],
            notes: &[
                "Jive provisioning needs a single-sign-on-enabled Jive subscription.",
                "It takes HTTP basic authentication only: a token is refused.",
            ],
        },
    },
];

/// A slug for a new app from `t` that no app in `taken` has: the template's name, else
/// `name-2`, `name-3`...
pub fn free_slug(t: &Template, taken: &[String]) -> String {
    let base = if t.name == "generic" { "app" } else { t.name };
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|s| !taken.iter().any(|x| x == s))
        .unwrap_or_else(|| base.to_string())
}

/// What the template's provisioning brings, in a sentence: "SCIM at https://…, bearer
/// token, userNames up to 30 characters".
pub fn provisioning_facts(t: &Template) -> String {
    let c = match crate::scim::target::connector(t.name) {
        Ok(c) if t.name != "generic" => c,
        _ => return "SCIM 2.0 at the app's base URL, bearer token or basic authentication".into(),
    };
    let mut facts = vec![match c.default_url {
        Some(u) => format!("SCIM at {u}"),
        None => "SCIM at your tenant's base URL".into(),
    }];
    facts.push(
        if c.auth == Some(crate::scim::target::AuthKind::Basic) {
            "HTTP basic authentication"
        } else {
            "bearer token"
        }
        .into(),
    );
    if !c.default_maps.is_empty() {
        facts.push(format!("mapped: {}", c.default_maps));
    }
    if let Some(n) = c.max_username {
        facts.push(format!("userNames up to {n} characters"));
    }
    if !c.default_excluded.is_empty() {
        facts.push(format!("{} not sent", c.default_excluded.join(", ")));
    }
    facts.join(", ")
}

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
