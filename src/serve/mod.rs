//! The listeners of `sesame serve`: the main one, plain or HTTPS (`tls`, with the
//! certificate reloaded when its files change: `cert`), the plain one that only redirects
//! to HTTPS (`redirect`), and who a request comes from when a proxy is in front (`proxy`).

pub mod cert;
pub mod proxy;
pub mod redirect;
pub mod tls;

use std::net::SocketAddr;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// The main listener's task, and the certificate watcher's when it speaks TLS.
pub struct Main {
    pub task: JoinHandle<std::io::Result<()>>,
    pub watcher: Option<JoinHandle<()>>,
}

/// Serves `app` on `listener`, over TLS when `tls_cert`/`tls_key` are set, until `stopped`
/// (then lets requests in flight finish). A certificate that does not load stops the start.
pub fn main_listener(
    config: &Config,
    listener: TcpListener,
    app: axum::Router,
    stopped: oneshot::Receiver<()>,
) -> anyhow::Result<Main> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let Some((cert, key)) = config.tls_files() else {
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
        return Ok(Main {
            task,
            watcher: None,
        });
    };
    let live = cert::LiveCert::open(cert, key, tls::provider())
        .with_context(|| format!("tls_cert/tls_key: cannot load {}", cert.display()))?;
    let tls_config = tls::server_config(live.clone()).context("tls_cert/tls_key")?;
    // `tap_io` only so that axum's ConnectInfo<SocketAddr> applies to this listener too.
    let listener = tls::TlsListener::new(listener, tls_config)?.tap_io(|_| {});
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok(Main {
        task,
        watcher: Some(tokio::spawn(live.watch())),
    })
}

/// `http_listen`, when set: its address and task (stopped with the server's workers).
pub async fn redirect_listener(
    config: &Config,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let Some(listen) = config.http_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (http_listen)"))?;
    let addr = listener.local_addr()?;
    let app = redirect::router(redirect::https_origin(&config.base_url));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the HTTP redirect listener stopped");
        }
    });
    tracing::info!(%addr, "plain HTTP here redirects to HTTPS");
    Ok(Some((addr, task)))
}

/// What is wrong between `base_url` and how sesame is reached, as warnings for the log: an
/// https `base_url` needs TLS here or a proxy in front, and an http one with TLS here names
/// the wrong scheme in every link, metadata document and SAML endpoint.
pub fn base_url_warnings(config: &Config) -> Vec<&'static str> {
    let tls = config.tls_files().is_some();
    let mut warnings = Vec::new();
    match config.base_url.scheme() {
        "https" if !tls && !config.behind_proxy => warnings.push(
            "base_url is https:// but the listener is plain HTTP and behind_proxy is not set: \
             set tls_cert and tls_key, or put sesame behind an HTTPS proxy and set \
             behind_proxy = true with trusted_proxies",
        ),
        "http" if tls => warnings.push(
            "base_url is http:// but sesame serves HTTPS (tls_cert): links, metadata and SAML \
             endpoints name the wrong scheme; set base_url to https://",
        ),
        _ => {}
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::base_url_warnings;
    use crate::config::Config;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(None, &env).unwrap()
    }

    #[test]
    fn base_url_is_checked_against_the_listener() {
        let https = ("SESAME_BASE_URL", "https://sso.example.com/");
        let cert = ("SESAME_TLS_CERT", "c.pem");
        let key = ("SESAME_TLS_KEY", "k.pem");
        assert_eq!(base_url_warnings(&config(&[https])).len(), 1);
        assert!(base_url_warnings(&config(&[https, cert, key])).is_empty());
        let proxied = [
            https,
            ("SESAME_BEHIND_PROXY", "true"),
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1"),
        ];
        assert!(base_url_warnings(&config(&proxied)).is_empty());
        assert_eq!(base_url_warnings(&config(&[cert, key])).len(), 1);
        assert!(base_url_warnings(&config(&[])).is_empty());
    }
}
