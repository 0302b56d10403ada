//! The running server: shared state, the router with its session layer, first-start
//! set-up, background housekeeping and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::auth::password::{self, Password};
use crate::config::Config;
use crate::directory::users;
use crate::saml::flow::Idp;
use crate::saml::keys::LiveKeys;
use crate::scim::secret::SealKey;
use crate::store::sessions::DbSessionStore;
use crate::store::Db;

/// Everything a handler may need, passed by axum's `State`.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: Arc<LiveKeys>,
    /// Seals and opens stored SCIM credentials (the console and API set and use them).
    pub seal: SealKey,
    /// What the SSO flow works with (the same store and keys, and the app settings cache).
    pub idp: Idp,
    /// The WebAuthn relying party for passkeys (off with an IP `base_url`).
    pub rp: Arc<crate::auth::passkey::RelyingParty>,
}

/// The name of the portal session cookie.
pub const SESSION_COOKIE: &str = "sesame_session";

/// Request bodies above this are refused before any handler runs.
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn router(state: AppState) -> axum::Router {
    let store = DbSessionStore::new(state.db.clone());
    let lifetime = time::Duration::seconds(state.config.session_lifetime.as_secs() as i64);
    // SECURITY 11: Secure, HttpOnly, SameSite=Lax (Strict would drop the cookie on the
    // SP's redirect to us and break SP-initiated SSO).
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(lifetime));
    let proxies = Arc::new(state.config.proxy_rule());
    crate::web::router(state.clone())
        .merge(crate::web::metrics::public(state))
        .layer(sessions)
        .layer(middleware::from_fn(crate::web::session_save_failed))
        .layer(middleware::from_fn(crate::web::rejections::readable_errors))
        .layer(middleware::from_fn(crate::web::rejections::too_large))
        .layer(middleware::from_fn(crate::web::security_headers))
        // Outside the security headers: they read the client's scheme it works out (HSTS).
        .layer(middleware::from_fn_with_state(
            proxies,
            crate::web::client::remember,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(crate::web::metrics::count))
}

/// How often the server looks for app changes made by another process (the CLI, another
/// replica); its own changes reach its caches at once.
const CHANGES_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A server started by [`start`]: its address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `metrics_listen` was bound, when set.
    pub metrics_addr: Option<SocketAddr>,
    /// Where `http_listen` (the redirect to HTTPS) was bound, when set.
    pub http_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// Background work (the provisioning worker, sweeps), stopped with the server.
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        for w in &self.workers {
            w.abort();
        }
        let _ = self.stop.send(());
        self.task.await.context("server task")?.context("server")?;
        Ok(())
    }
}

/// Binds the listener and serves in a background task (used by `serve` and the tests).
pub async fn start(config: Config, db: Db) -> anyhow::Result<Running> {
    password::set_min_len(config.password_min_length);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let mut config = config;
    if config.base_url.port() == Some(0) {
        // The default base URL follows `listen`; with port 0 it takes the port bound.
        let _ = config.base_url.set_port(Some(addr.port()));
    }
    let (keys, created) = LiveKeys::open(&config.certs_dir).with_context(|| {
        format!(
            "cannot load or create the signing keys in {}",
            config.certs_dir.display()
        )
    })?;
    if created {
        tracing::info!(dir = %config.certs_dir.display(), "generated an RSA-2048 signing key and certificate");
    }
    let keys = Arc::new(keys);
    let state_config = Arc::new(config);
    let key = state_config
        .seal_key()
        .context("cannot load the key that protects stored SCIM credentials")?;
    let state = AppState {
        idp: Idp {
            slo_reach_check: state_config.slo_reach_check,
            ..Idp::new(
                db.clone(),
                keys.clone(),
                state_config.base_url.clone(),
                state_config.session_lifetime,
            )
        },
        db: db.clone(),
        config: state_config.clone(),
        keys,
        seal: key.clone(),
        rp: Arc::new(crate::auth::passkey::RelyingParty::new(
            &state_config.base_url,
        )),
    };
    let (metrics_addr, metrics_task) = serve_metrics(&state).await?.unzip();
    for warning in crate::serve::base_url_warnings(&state.config) {
        tracing::warn!(base_url = %state.config.base_url, "{warning}");
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let main = crate::serve::main_listener(&state_config, listener, router(state), stopped)?;
    let (http_addr, redirect_task) = crate::serve::redirect_listener(&state_config)
        .await?
        .unzip();
    let task = main.task;
    let mailer = crate::mail::outbox::Worker {
        db: db.clone(),
        key: key.clone(),
        base_url: state_config.base_url.clone(),
    };
    let engine = crate::scim::engine::Engine::new(
        db.clone(),
        key,
        state_config.scim_concurrency,
        state_config.scim_reconcile_every,
    );
    let mut workers = vec![
        tokio::spawn(engine.run()),
        tokio::spawn(mailer.run()),
        tokio::spawn(sweep(db.clone())),
        tokio::spawn(db.watch_changes(CHANGES_EVERY)),
    ];
    workers.extend(metrics_task);
    workers.extend(main.watcher);
    workers.extend(redirect_task);
    password::warm_up().await;
    Ok(Running {
        addr,
        metrics_addr,
        http_addr,
        stop,
        task,
        workers,
    })
}

/// With metrics on: installs the recorder, and serves `metrics_listen` (`/metrics` and the
/// probes) when set: its address and task.
async fn serve_metrics(state: &AppState) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let config = &state.config;
    if !config.metrics_enabled() {
        return Ok(None);
    }
    crate::telemetry::install()?;
    let Some(listen) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (metrics_listen)"))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && config.metrics_token.is_empty() {
        tracing::warn!(%addr, "metrics_listen is not a loopback address and metrics_token is empty: whoever reaches it reads the metrics");
    }
    let app = crate::web::metrics::private(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    tracing::info!(%addr, "metrics and probes are served here");
    Ok(Some((addr, task)))
}

/// Deletes expired sessions, SSO replay records and parked requests every few minutes.
async fn sweep(db: Db) {
    let sessions = DbSessionStore::new(db.clone());
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(e) = sessions.delete_expired().await {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
        let saml = async {
            let mut conn = db.write().await?;
            crate::store::saml::sweep(&mut conn).await
        };
        if let Err(e) = saml.await {
            tracing::warn!(error = %e, "could not delete expired SSO records");
        }
        let tokens = async {
            let mut conn = db.write().await?;
            crate::store::user_tokens::sweep(&mut conn).await
        };
        if let Err(e) = tokens.await {
            tracing::warn!(error = %e, "could not delete expired reset and invitation tokens");
        }
    }
}

/// First start: with no admin yet, create one. The password comes from
/// `SESAME_ADMIN_PASSWORD`, or is generated, printed once, and must be changed at first
/// sign-in.
pub async fn first_start(db: &Db) -> anyhow::Result<()> {
    let (password, generated) = match std::env::var("SESAME_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (Password::new(p).context("SESAME_ADMIN_PASSWORD")?, false),
        _ => (Password::generate(), true),
    };
    if let Some(username) = users::ensure_admin(db, &password, generated).await? {
        println!();
        println!("  sesame: created the first admin account");
        println!("    username: {username}");
        if generated {
            println!(
                "    password: {}   (one-time: you will choose a new one at first sign-in)",
                password.expose()
            );
        } else {
            println!("    password: the value of SESAME_ADMIN_PASSWORD");
        }
        println!();
    }
    Ok(())
}

/// `sesame serve`: runs until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = Db::connect_with(&config.database_url, config.database_wait)
        .await
        .context("cannot open the database")?;
    first_start(&db).await?;
    if config.base_url.scheme() == "http" && !is_loopback(&config.base_url) {
        tracing::warn!(base_url = %config.base_url, "base_url is plain http on a non-loopback host: browsers will not keep the Secure session cookie; serve sesame behind HTTPS");
    }
    let base_url = config.base_url.clone();
    let running = start(config, db).await?;
    tracing::info!(addr = %running.addr, %base_url, "sesame is listening");
    println!("  sesame is up: open {base_url} (Ctrl-C to stop)");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
