//! The admin API's operations as data: one table that the router is built from and that
//! `tests/it/api.rs` holds `openapi.json` to (each operation documented, each documented
//! one served, a `{action}` route documented action by action).

use axum::handler::Handler;
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::Router;

use super::{apps, events_list, keys, method_not_allowed, not_found, openapi, people, scim};
use crate::app::AppState;

/// An HTTP method the API serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// As OpenAPI writes it (`get`, `post`...).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One operation: method, path (axum syntax, which is OpenAPI's), and for a route whose
/// last segment is `{action}`, the actions it takes.
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub actions: Vec<&'static str>,
    handler: MethodRouter<AppState>,
}

fn op<H, T>(verb: Verb, path: &'static str, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        verb,
        path,
        actions: Vec::new(),
        handler: on(verb.filter(), handler),
    }
}

impl Endpoint {
    fn actions(mut self, names: impl IntoIterator<Item = &'static str>) -> Self {
        self.actions = names.into_iter().collect();
        self
    }
}

/// Every operation of `/api/v1`.
pub fn endpoints() -> Vec<Endpoint> {
    use Verb::{Delete, Get, Patch, Post, Put};
    vec![
        op(Get, "/api/v1/openapi.json", openapi),
        op(Get, "/api/v1/catalog", apps::catalog),
        op(Get, "/api/v1/apps", apps::list),
        op(Post, "/api/v1/apps", apps::create),
        op(Get, "/api/v1/apps/{slug}", apps::show),
        op(Patch, "/api/v1/apps/{slug}", apps::update),
        op(Delete, "/api/v1/apps/{slug}", apps::delete),
        op(Get, "/api/v1/apps/{slug}/sso", apps::sso),
        op(Patch, "/api/v1/apps/{slug}/sso", apps::set_sso),
        op(
            Put,
            "/api/v1/apps/{slug}/sso/metadata",
            apps::import_metadata,
        ),
        op(Get, "/api/v1/apps/{slug}/sso/preview", apps::preview),
        op(Put, "/api/v1/apps/{slug}/logo", apps::set_logo),
        op(Delete, "/api/v1/apps/{slug}/logo", apps::remove_logo),
        op(Put, "/api/v1/apps/{slug}/groups/{group}", apps::bind),
        op(Delete, "/api/v1/apps/{slug}/groups/{group}", apps::unbind),
        op(Get, "/api/v1/apps/{slug}/scim", scim::show),
        op(Patch, "/api/v1/apps/{slug}/scim", scim::set),
        op(Delete, "/api/v1/apps/{slug}/scim", scim::remove),
        op(Post, "/api/v1/apps/{slug}/scim/test", scim::test),
        op(Post, "/api/v1/apps/{slug}/scim/{action}", scim::action).actions(scim::action_names()),
        op(Get, "/api/v1/apps/{slug}/scim/import", scim::import_list),
        op(Post, "/api/v1/apps/{slug}/scim/import", scim::import),
        op(Get, "/api/v1/users", people::users),
        op(Post, "/api/v1/users", people::create_user),
        op(Get, "/api/v1/users/{username}", people::user),
        op(Patch, "/api/v1/users/{username}", people::update_user),
        op(Delete, "/api/v1/users/{username}", people::delete_user),
        op(
            Post,
            "/api/v1/users/{username}/{action}",
            people::user_action,
        )
        .actions(people::USER_ACTIONS.iter().map(|a| a.name())),
        op(Get, "/api/v1/groups", people::groups),
        op(Post, "/api/v1/groups", people::create_group),
        op(Get, "/api/v1/groups/{name}", people::group),
        op(Delete, "/api/v1/groups/{name}", people::delete_group),
        op(
            Put,
            "/api/v1/groups/{name}/members/{username}",
            people::add_member,
        ),
        op(
            Delete,
            "/api/v1/groups/{name}/members/{username}",
            people::remove_member,
        ),
        op(Get, "/api/v1/settings/mfa", people::mfa_policy),
        op(Put, "/api/v1/settings/mfa", people::set_mfa_policy),
        op(Get, "/api/v1/events", events_list),
        op(Get, "/api/v1/keys", keys::show),
        op(Post, "/api/v1/keys/stage-next", keys::stage_next),
        op(Post, "/api/v1/keys/activate-next", keys::activate_next),
        op(Get, "/api/v1/apps/{slug}/keys", keys::app_show),
        op(Put, "/api/v1/apps/{slug}/keys", keys::app_own),
        op(Delete, "/api/v1/apps/{slug}/keys", keys::app_shared),
        op(
            Post,
            "/api/v1/apps/{slug}/keys/stage-next",
            keys::app_stage_next,
        ),
        op(
            Post,
            "/api/v1/apps/{slug}/keys/activate-next",
            keys::app_activate_next,
        ),
    ]
}

/// The paths that answer a JSON 404 for anything else under `/api/v1`.
pub const CATCH_ALL: [&str; 3] = ["/api/v1", "/api/v1/", "/api/v1/{*rest}"];

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for e in endpoints() {
        // Routes on one path merge their methods.
        router = router.route(e.path, e.handler);
    }
    // Unknown paths under /api/v1 get a JSON 404 (after authentication). A fallback would
    // not do: this router is merged into the site's, whose fallback wins.
    for path in CATCH_ALL {
        router = router.route(path, any(not_found));
    }
    // Last, so that it covers every route above: a JSON 405 (axum adds `Allow`).
    router.method_not_allowed_fallback(method_not_allowed)
}
