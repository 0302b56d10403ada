//! The admin API's operations as data: one table, [`endpoints`], that the router is built
//! from and the OpenAPI document is generated from (`document.rs`), and that
//! `tests/it/api.rs` holds the served document to.
//!
//! An entry is made from a handler by `utoipa_axum::routes!`, which routes the handler at the
//! path and method of its `#[utoipa::path]` and takes its operation from the same place: the
//! table cannot serve one thing and document another. A route whose last segment is
//! `{action}` is one handler for several actions, named in the entry; it is documented
//! action by action, by the `#[utoipa::path]` of each action's function, and a test below
//! holds those paths to the route and to the actions it takes.

use axum::handler::Handler;
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::Router;
use utoipa::openapi::path::{Operation, PathItem, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::OpenApi;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::{
    apps, assign, config, document, keys, mail, method_not_allowed, not_found, people, scim,
    sources,
};
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
    const ALL: [Verb; 5] = [Verb::Get, Verb::Post, Verb::Put, Verb::Patch, Verb::Delete];

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

    /// This method's operation in a path item.
    fn operation(self, item: &PathItem) -> Option<&Operation> {
        match self {
            Verb::Get => item.get.as_ref(),
            Verb::Post => item.post.as_ref(),
            Verb::Put => item.put.as_ref(),
            Verb::Patch => item.patch.as_ref(),
            Verb::Delete => item.delete.as_ref(),
        }
    }
}

/// Schemas by name, as utoipa collects them.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// One operation: method, path (axum syntax, which is OpenAPI's), and for a route whose
/// last segment is `{action}`, the actions it takes; with the handler and its document.
pub struct Endpoint {
    pub verb: Verb,
    pub path: String,
    pub actions: Vec<&'static str>,
    handler: MethodRouter<AppState>,
    /// The operation (or, for `{action}`, one per action) and the schemas it refers to.
    paths: Paths,
    schemas: Schemas,
}

impl Endpoint {
    /// The operations and schemas this endpoint adds to the document.
    pub fn document(self) -> (Paths, Schemas) {
        (self.paths, self.schemas)
    }
}

/// An endpoint at the path and method of its handler's `#[utoipa::path]` (one of each).
fn op(routed: UtoipaMethodRouter<AppState>) -> Endpoint {
    let (schemas, paths, handler) = routed;
    let (path, verb) = paths
        .paths
        .iter()
        .find_map(|(path, item)| {
            let verb = Verb::ALL
                .into_iter()
                .find(|v| v.operation(item).is_some())?;
            Some((path.clone(), verb))
        })
        // None only for an annotation without a method, which the tests below refuse.
        .unwrap_or((String::new(), Verb::Get));
    Endpoint {
        verb,
        path,
        actions: Vec::new(),
        handler,
        paths,
        schemas,
    }
}

/// A `{action}` route: one handler for `actions`, documented by `doc`, which holds an
/// operation for each action at the route's path with the action in place of `{action}`.
fn actions<H, T>(
    verb: Verb,
    path: &str,
    handler: H,
    actions: impl IntoIterator<Item = &'static str>,
    doc: utoipa::openapi::OpenApi,
) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        verb,
        path: path.to_string(),
        actions: actions.into_iter().collect(),
        handler: on(verb.filter(), handler),
        paths: doc.paths,
        schemas: doc
            .components
            .map(|c| c.schemas.into_iter().collect())
            .unwrap_or_default(),
    }
}

/// Every operation of `/api/v1`.
pub fn endpoints() -> Vec<Endpoint> {
    use Verb::Post;
    vec![
        op(routes!(document::serve)),
        op(routes!(apps::catalog)),
        op(routes!(apps::list)),
        op(routes!(apps::create)),
        op(routes!(apps::show)),
        op(routes!(apps::update)),
        op(routes!(apps::delete)),
        op(routes!(apps::sso)),
        op(routes!(apps::set_sso)),
        op(routes!(apps::import_metadata)),
        op(routes!(apps::preview)),
        op(routes!(apps::set_logo)),
        op(routes!(apps::remove_logo)),
        op(routes!(apps::bind)),
        op(routes!(apps::unbind)),
        op(routes!(assign::assign)),
        op(routes!(assign::unassign)),
        op(routes!(scim::show)),
        op(routes!(scim::set)),
        op(routes!(scim::remove)),
        op(routes!(scim::test)),
        actions(
            Post,
            "/api/v1/apps/{slug}/scim/{action}",
            scim::action,
            scim::action_names(),
            scim::Actions::openapi(),
        ),
        op(routes!(scim::import_list)),
        op(routes!(scim::import)),
        op(routes!(sources::list)),
        op(routes!(sources::create)),
        op(routes!(sources::revoke)),
        op(routes!(people::users)),
        op(routes!(people::create_user)),
        op(routes!(people::import::import_users)),
        op(routes!(people::user)),
        op(routes!(people::update_user)),
        op(routes!(people::delete_user)),
        actions(
            Post,
            "/api/v1/users/{username}/{action}",
            people::user_action,
            people::USER_ACTIONS.iter().map(|a| a.name()),
            people::Actions::openapi(),
        ),
        op(routes!(people::groups)),
        op(routes!(people::create_group)),
        op(routes!(people::group)),
        op(routes!(people::update_group)),
        op(routes!(people::delete_group)),
        op(routes!(people::add_member)),
        op(routes!(people::remove_member)),
        op(routes!(people::mfa_policy)),
        op(routes!(people::set_mfa_policy)),
        op(routes!(mail::show)),
        op(routes!(mail::set)),
        op(routes!(mail::test)),
        op(routes!(super::events_list)),
        op(routes!(keys::show)),
        op(routes!(keys::stage_next)),
        op(routes!(keys::activate_next)),
        op(routes!(keys::app_show)),
        op(routes!(keys::app_own)),
        op(routes!(keys::app_shared)),
        op(routes!(keys::app_stage_next)),
        op(routes!(keys::app_activate_next)),
        op(routes!(config::export)),
        op(routes!(config::plan)),
        op(routes!(config::apply)),
    ]
}

/// The paths that answer a JSON 404 for anything else under `/api/v1`.
pub const CATCH_ALL: [&str; 3] = ["/api/v1", "/api/v1/", "/api/v1/{*rest}"];

pub fn router() -> Router<AppState> {
    document::document();
    let mut router = Router::new();
    for e in endpoints() {
        // Routes on one path merge their methods.
        router = router.route(&e.path, e.handler);
    }
    // Unknown paths under /api/v1 get a JSON 404 (after authentication). A fallback would
    // not do: this router is merged into the site's, whose fallback wins.
    for path in CATCH_ALL {
        router = router.route(path, any(not_found));
    }
    // Last, so that it covers every route above: a JSON 405 (axum adds `Allow`).
    router.method_not_allowed_fallback(method_not_allowed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The (path, method) pairs an endpoint documents.
    fn documented(e: &Endpoint) -> BTreeSet<(String, Verb)> {
        let mut out = BTreeSet::new();
        for (path, item) in &e.paths.paths {
            for v in Verb::ALL {
                if v.operation(item).is_some() {
                    out.insert((path.clone(), v));
                }
            }
        }
        out
    }

    #[test]
    fn each_endpoint_documents_what_it_routes() {
        let mut seen = BTreeSet::new();
        for e in endpoints() {
            assert!(e.path.starts_with("/api/v1/"), "{}", e.path);
            assert!(
                seen.insert((e.path.clone(), e.verb)),
                "{} {} twice",
                e.verb.name(),
                e.path
            );
            let expected: BTreeSet<(String, Verb)> = if e.path.ends_with("/{action}") {
                assert!(!e.actions.is_empty(), "{}", e.path);
                e.actions
                    .iter()
                    .map(|a| (e.path.replace("{action}", a), e.verb))
                    .collect()
            } else {
                assert!(e.actions.is_empty(), "{}", e.path);
                [(e.path.clone(), e.verb)].into()
            };
            assert_eq!(documented(&e), expected, "{} {}", e.verb.name(), e.path);
        }
        assert_eq!(seen.len(), 58);
    }
}
