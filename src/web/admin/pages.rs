//! The console's askama pages. Every page carries the same chrome: who is signed in, the
//! CSRF token for its forms, and the one-time message of the last action.

use askama::Template;

use super::AdminUser;
use crate::directory::catalog::Template as AppTemplate;
use crate::directory::groups::GroupDetail;
use crate::directory::users::UserDetail;
use crate::directory::{App, Group, User};
use crate::saml::encrypt::Encryption;
use crate::saml::preview::Preview;
use crate::scim::control::PlanLine;
use crate::scim::inventory::Candidate;
use crate::scim::target::{AuthKind, Deprovision, TargetState, Transition};
use crate::store::events::Event;
use crate::store::sso::SsoRow;

pub struct Chrome {
    pub who: String,
    pub csrf: String,
    pub flash: Option<(bool, String)>,
    /// apps | users | groups | events
    pub section: &'static str,
}

impl Chrome {
    pub async fn new(admin: &AdminUser, section: &'static str) -> Chrome {
        Chrome {
            who: admin.user.username.clone(),
            csrf: admin.csrf.clone(),
            flash: super::take_flash(&admin.session).await,
            section,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/mail.html")]
pub struct MailPage {
    pub c: Chrome,
    pub smtp: crate::mail::settings::SmtpView,
    pub securities: Vec<&'static str>,
    /// The test mail's default recipient: the admin's own address.
    pub to: String,
}

#[derive(Template)]
#[template(path = "admin/apps.html")]
pub struct AppsPage {
    pub c: Chrome,
    pub q: String,
    pub apps: Vec<App>,
}

#[derive(Template)]
#[template(path = "admin/catalog.html")]
pub struct CatalogPage {
    pub c: Chrome,
    pub q: String,
    pub templates: Vec<CatalogEntry>,
    pub base_url: String,
}

/// A catalog template with a slug no app has yet, and what its provisioning brings.
pub struct CatalogEntry {
    pub t: &'static AppTemplate,
    pub slug: String,
    pub provisioning: String,
}

#[derive(Template)]
#[template(path = "admin/app_general.html")]
pub struct GeneralPage {
    pub c: Chrome,
    pub app: App,
    pub tab: &'static str,
    pub idp_url: String,
}

#[derive(Template)]
#[template(path = "admin/app_groups.html")]
pub struct GroupsTab {
    pub c: Chrome,
    pub app: App,
    pub tab: &'static str,
    pub groups: Vec<(Group, bool)>,
    /// Users assigned directly, and the usernames one may add (type-ahead).
    pub assigned: Vec<String>,
    pub usernames: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/app_sso.html")]
pub struct SsoPage {
    pub c: Chrome,
    /// A refused settings form: the message, and the field it is about.
    pub invalid: crate::web::form::Invalid,
    /// The certificate texts of a refused form (signing, encryption), kept as typed.
    pub typed_certs: (String, String),
    pub app: App,
    pub tab: &'static str,
    pub guide: VendorGuide,
    pub row: SsoRow,
    pub idp_url: String,
    pub idp_entity_id: String,
    pub fingerprint: String,
    /// The app's own key (type, fingerprint) and its staged next one; `None`: the shared key.
    pub own_key: Option<OwnKey>,
    pub acs_text: String,
    pub attrs_text: String,
    pub sp_certs: usize,
    /// The SP encryption certificate in words (subject, end of validity, fingerprint).
    pub encryption_cert: Option<String>,
    pub encryptions: &'static [Encryption],
    pub formats: &'static [&'static str],
    pub sources: &'static [&'static str],
    pub usernames: Vec<String>,
    pub preview: Option<Preview>,
    pub attempts: Vec<EventView>,
}

pub struct OwnKey {
    pub kind: &'static str,
    pub fingerprint: String,
    pub next: Option<(&'static str, String)>,
}

pub struct IdmView {
    pub configured: bool,
    pub connector: String,
    pub url: String,
    pub auth: AuthKind,
    pub basic_user: String,
    pub credential_set: bool,
    pub deprovision: Deprovision,
    pub push_groups: bool,
    pub password_sync: bool,
    /// What Test connection (or the first sync) read: PATCH, else PUT of the whole resource.
    pub patch_supported: bool,
    pub caps_read: bool,
    pub deletion_threshold: i64,
    /// Where failure and recovery notifications go ("": none).
    pub notify_email: String,
    pub state: TargetState,
    pub state_reason: String,
    pub queued: i64,
    pub linked: i64,
    pub in_scope: i64,
    pub last_sync: String,
    /// When a request to the target last succeeded ("never").
    pub last_ok: String,
    pub next_sync: String,
    /// When Test connection passed with the current settings; None: not since they changed.
    pub tested: Option<String>,
    /// (attribute, excluded) for the connector's optional attributes.
    pub optional: Vec<(String, bool)>,
    pub progress_max: i64,
    pub progress_done: i64,
    /// The latest failure of a queued job, in words.
    pub failing: Option<String>,
    /// Provisioning scope: "assigned" or "all".
    pub scope: String,
    /// The scoping filters, one clause a line.
    pub filters: String,
    /// The matching precedence, comma-separated.
    pub matching: String,
    /// Which filter line was refused (the textarea is marked), when the form came back.
    pub filters_invalid: bool,
    /// The target's own attribute mappings, `path = expression [create]` a line.
    pub mappings: String,
    /// A mapping line was refused (the textarea is marked).
    pub mappings_invalid: bool,
    /// The mapped SCIM user asked for: (username, the create body as pretty JSON, the
    /// create-only attributes).
    pub preview: Option<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin/app_idm.html")]
pub struct IdmPage {
    pub c: Chrome,
    pub app: App,
    pub tab: &'static str,
    pub guide: VendorGuide,
    /// A refused settings form: the field the message is about (the message is the flash).
    pub invalid: crate::web::form::Invalid,
    pub v: IdmView,
    pub connectors: Vec<&'static str>,
    pub usernames: Vec<String>,
    pub plan: Option<Vec<PlanLine>>,
    pub import: Option<Vec<Candidate>>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub q: String,
    pub users: Vec<User>,
    pub pager: Pager,
    /// The add-user form as typed (after a refusal), and what was wrong.
    pub typed: super::people::NewUser,
    pub invalid: crate::web::form::Invalid,
    pub mfa_policy: crate::auth::mfa::Policy,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    pub c: Chrome,
    pub d: UserDetail,
    pub manager: String,
    /// Each app the user may use, with the groups that grant it.
    pub why: Vec<(String, String, Vec<String>)>,
    pub other_groups: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
pub struct GroupsPage {
    pub c: Chrome,
    pub q: String,
    pub groups: Vec<Group>,
    pub pager: Pager,
}

/// One page of a long list: which rows it shows and the links to the pages around it.
pub struct Pager {
    /// 1-based, inclusive; 0 and 0 when the list is empty.
    pub from: usize,
    pub to: usize,
    pub total: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// Rows per page of the console's lists.
    pub const PER_PAGE: usize = 50;

    /// Page `page` (1-based; past the end: the last) of `items`; `link(n)` is page n's URL.
    pub fn slice<T>(items: Vec<T>, page: usize, link: impl Fn(usize) -> String) -> (Vec<T>, Pager) {
        let total = items.len();
        let pages = total.div_ceil(Self::PER_PAGE).max(1);
        let page = page.clamp(1, pages);
        let start = (page - 1) * Self::PER_PAGE;
        let shown: Vec<T> = items.into_iter().skip(start).take(Self::PER_PAGE).collect();
        let pager = Pager {
            from: if shown.is_empty() { 0 } else { start + 1 },
            to: start + shown.len(),
            total,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        };
        (shown, pager)
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
pub struct GroupPage {
    pub c: Chrome,
    pub d: GroupDetail,
    pub non_members: Vec<String>,
}

pub struct EventView {
    pub at: String,
    pub e: Event,
    /// The detail JSON, indented (provisioning events hold the redacted exchange).
    pub detail: String,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        let detail = serde_json::from_str::<serde_json::Value>(&e.detail)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| e.detail.clone());
        EventView {
            at: crate::store::when(e.at),
            e,
            detail,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
pub struct EventsPage {
    pub c: Chrome,
    /// The filter as submitted.
    pub f: super::events::Filter,
    /// Newest first.
    pub events: Vec<EventView>,
    /// The export links' query string (the filter, no cursor), with its `?`.
    pub export: String,
    pub older: Option<String>,
    pub newer: Option<String>,
    /// The event names recorded, the apps (slug, label) and usernames to choose from.
    pub names: Vec<String>,
    pub app_choices: Vec<(String, String)>,
    pub usernames: Vec<String>,
}

/// The vendor's set-up steps for an app's template (`directory::catalog::Guide`), and how
/// the page names the vendor.
pub struct VendorGuide {
    pub vendor: &'static str,
    pub steps: &'static crate::directory::catalog::Guide,
}

impl VendorGuide {
    pub fn of(app: &App) -> Self {
        let t = crate::directory::catalog::template(&app.template)
            .unwrap_or(&crate::directory::catalog::TEMPLATES[0]);
        VendorGuide {
            vendor: if t.name == "generic" {
                "the application"
            } else {
                t.label
            },
            steps: &t.guide,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/import.html")]
pub struct ImportPage {
    pub c: Chrome,
    /// The CSV as given (kept through preview and import).
    pub csv: String,
    pub report: Option<crate::directory::import::Report>,
    pub error: Option<String>,
    pub invited: usize,
    pub columns: String,
}

#[derive(Template)]
#[template(path = "admin/config.html")]
pub struct ConfigPage {
    pub c: Chrome,
    /// The declaration as submitted (kept on every answer).
    pub toml: String,
    pub prune: bool,
    pub error: Option<String>,
    /// The plan, as `sesame apply` prints it.
    pub plan: Option<String>,
    /// Whether `plan` was applied.
    pub applied: bool,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
pub struct KeysPage {
    pub c: Chrome,
    /// Type, SHA-256 fingerprint, valid until.
    pub active: (String, String, String),
    pub next: Option<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin/sources.html")]
pub struct SourcesPage {
    pub c: Chrome,
    pub sources: Vec<SourceView>,
    pub scim_url: String,
    /// (name, token) right after a creation: the only time the token is shown.
    pub new_token: Option<(String, String)>,
}

/// A source as the page lists it.
pub struct SourceView {
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

impl From<crate::store::inbound::SourceRow> for SourceView {
    fn from(r: crate::store::inbound::SourceRow) -> Self {
        SourceView {
            created: crate::store::when(r.created_at),
            last_used: r
                .last_used_at
                .map(crate::store::when)
                .unwrap_or_else(|| "never".into()),
            revoked: r.revoked_at.is_some(),
            name: r.name,
        }
    }
}
