//! Configuration: built-in defaults, then `sesame.toml` (or the file named by
//! `--config`/`SESAME_CONFIG`), then `SESAME_*` environment variables. Each value is checked
//! once here; a bad one is a single line naming the key and where it came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::auth::throttle::ThrottlePolicy;
use crate::serve::proxy::{ProxyRule, TrustedProxies};

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub base_url: Url,
    pub database_url: String,
    pub certs_dir: PathBuf,
    #[serde(serialize_with = "as_human")]
    pub session_lifetime: Duration,
    pub login: ThrottlePolicy,
    /// Key for secrets at rest (SCIM credentials): base64 of 32 bytes. Empty: a key file
    /// `secrets.key` in `certs_dir` (mode 0600, generated on first use), apart from the data.
    #[serde(serialize_with = "redact_nonempty")]
    pub secret_key: crate::scim::secret::Secret,
    /// Requests in flight per SCIM target.
    pub scim_concurrency: usize,
    /// How often each active SCIM target is reconciled (its users read and corrected).
    #[serde(serialize_with = "as_human")]
    pub scim_reconcile_every: Duration,
    /// How long a request waits for the database (a connection, or a lock another process
    /// holds) before it is answered 503 with `Retry-After`.
    #[serde(serialize_with = "as_human")]
    pub database_wait: Duration,
    /// The shortest new password accepted.
    pub password_min_length: usize,
    /// Host names and networks SP metadata may be fetched from although not public
    /// (loopback, private, link-local...): by default only public addresses are fetched.
    pub metadata_fetch_allow: crate::saml::fetch::FetchAllow,
    /// A listener of its own for `/metrics`, `/healthz` and `/readyz` (None: none).
    pub metrics_listen: Option<SocketAddr>,
    /// With a token, `/metrics` is also served on `listen` to `Authorization: Bearer
    /// <token>`, and asks for it on `metrics_listen` too. Empty: not on `listen`.
    #[serde(serialize_with = "redact_nonempty")]
    pub metrics_token: crate::scim::secret::Secret,
    /// Before sending the browser to an SP's logout URL, check that it accepts a connection
    /// (2 s) and skip it if not, so an SP that is down does not stop a logout. Off where
    /// sesame cannot reach its SPs itself (no outbound access): every SP would be skipped.
    pub slo_reach_check: bool,
    /// HTTPS on `listen` (rustls): the certificate chain (leaf first) and its private key,
    /// PEM. Both or neither; reloaded when the files change (`serve::cert`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// With TLS: a plain listener that redirects every request to HTTPS (`/healthz` apart).
    pub http_listen: Option<SocketAddr>,
    /// A reverse proxy terminates HTTPS in front of sesame: `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed from `trusted_proxies`, and no one else.
    pub behind_proxy: bool,
    pub trusted_proxies: TrustedProxies,
}

fn redact_nonempty<S: serde::Serializer>(
    v: &crate::scim::secret::Secret,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_empty() { "" } else { "REDACTED" })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The keys, as written in `sesame.toml`; the environment variable is `SESAME_` + the key
/// in upper case.
const KEYS: &[&str] = &[
    "listen",
    "base_url",
    "database_url",
    "certs_dir",
    "session_lifetime",
    "login_max_failures",
    "login_ip_max_failures",
    "login_window",
    "login_lockout",
    "secret_key",
    "scim_concurrency",
    "scim_reconcile_every",
    "database_wait",
    "password_min_length",
    "metadata_fetch_allow",
    "metrics_listen",
    "metrics_token",
    "slo_reach_check",
    "tls_cert",
    "tls_key",
    "http_listen",
    "behind_proxy",
    "trusted_proxies",
];

impl Config {
    /// The key that seals stored SCIM credentials (`secret_key`, else the key file).
    pub fn seal_key(
        &self,
    ) -> Result<crate::scim::secret::SealKey, crate::scim::secret::SecretError> {
        crate::scim::secret::SealKey::load(&self.secret_key, &self.certs_dir)
    }

    /// Loads from the given file (or `./sesame.toml` when present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(file, &env)
    }

    pub fn from_sources(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut raw: BTreeMap<&str, (String, String)> = BTreeMap::new();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("SESAME_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("sesame.toml")).filter(|p| p.exists()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                ConfigError(format!("{}: {}", path.display(), e.message()))
            })?;
            for (k, v) in table {
                let key = KEYS.iter().find(|known| **known == k).ok_or_else(|| {
                    ConfigError(format!(
                        "{}: unknown key {k:?} (known: {})",
                        path.display(),
                        KEYS.join(", ")
                    ))
                })?;
                let value = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    // A list (`trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]`) is read as
                    // the comma-separated string the environment variable holds.
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ConfigError(format!(
                                "{}: {k} must be a list of strings",
                                path.display()
                            ))
                        })?
                        .join(","),
                    _ => {
                        return Err(ConfigError(format!(
                            "{}: {k} must be a string or a number",
                            path.display()
                        )))
                    }
                };
                raw.insert(key, (value, path.display().to_string()));
            }
        }
        for key in KEYS {
            let var = format!("SESAME_{}", key.to_uppercase());
            if let Some(v) = env.get(&var) {
                raw.insert(key, (v.clone(), var));
            }
        }
        Self::build(&raw)
    }

    fn build(raw: &BTreeMap<&str, (String, String)>) -> Result<Self, ConfigError> {
        fn get<T>(
            raw: &BTreeMap<&str, (String, String)>,
            key: &str,
            default: T,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<T, ConfigError> {
            match raw.get(key) {
                None => Ok(default),
                Some((v, from)) => {
                    parse(v).map_err(|e| ConfigError(format!("{key} (from {from}): {e}")))
                }
            }
        }
        let listen: SocketAddr = get(raw, "listen", ([127, 0, 0, 1], 8080).into(), |v| {
            v.parse()
                .map_err(|_| format!("{v:?} is not an address like 127.0.0.1:8080"))
        })?;
        let default_base =
            Url::parse(&format!("http://{listen}/")).map_err(|e| ConfigError(e.to_string()))?;
        let base_url = get(raw, "base_url", default_base, parse_base_url)?;
        let database_url = get(
            raw,
            "database_url",
            "sqlite://data/sesame.db".to_string(),
            |v| {
                crate::store::Backend::from_url(v)
                    .map(|_| v.to_string())
                    .map_err(|e| e.to_string())
            },
        )?;
        let certs_dir = get(raw, "certs_dir", PathBuf::from("certs"), |v| {
            if v.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(PathBuf::from(v))
            }
        })?;
        let session_lifetime = get(
            raw,
            "session_lifetime",
            Duration::from_secs(8 * 3600),
            parse_duration,
        )?;
        let d = ThrottlePolicy::default();
        let count = |v: &str| match v.parse::<i64>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(format!("{v:?} is not a whole number from 1 to 10000")),
        };
        let login = ThrottlePolicy {
            max_failures: get(raw, "login_max_failures", d.max_failures, count)?,
            ip_max_failures: get(raw, "login_ip_max_failures", d.ip_max_failures, count)?,
            window: get(raw, "login_window", d.window, parse_duration)?,
            lockout: get(raw, "login_lockout", d.lockout, parse_duration)?,
        };
        let secret_key = get(raw, "secret_key", Default::default(), |v| {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(v.trim()) {
                Ok(k) if k.len() == 32 => Ok(crate::scim::secret::Secret::new(v.trim())),
                _ => Err("must be base64 of 32 random bytes (openssl rand -base64 32)".into()),
            }
        })?;
        let scim_concurrency = get(raw, "scim_concurrency", 4, |v| match v.parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(format!("{v:?} is not a whole number from 1 to 64")),
        })?;
        let scim_reconcile_every = get(
            raw,
            "scim_reconcile_every",
            Duration::from_secs(24 * 3600),
            parse_duration,
        )?;
        let database_wait =
            get(
                raw,
                "database_wait",
                crate::store::DEFAULT_WAIT,
                |v| match parse_duration(v) {
                    Ok(d) if d <= Duration::from_secs(60) => Ok(d),
                    Ok(_) => Err(format!("{v:?} must be from 1s to 60s")),
                    Err(e) => Err(e),
                },
            )?;
        let metadata_fetch_allow = get(
            raw,
            "metadata_fetch_allow",
            Default::default(),
            crate::saml::fetch::FetchAllow::parse,
        )?;
        let password_min_length = get(
            raw,
            "password_min_length",
            crate::auth::password::DEFAULT_MIN_LEN,
            |v| match v.parse::<usize>() {
                Ok(n) if (8..=64).contains(&n) => Ok(n),
                _ => Err(format!("{v:?} is not a whole number from 8 to 64")),
            },
        )?;
        let metrics_listen = get(raw, "metrics_listen", None, |v| {
            if v.trim().is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{v:?} is not an address like 127.0.0.1:9464 (or empty: off)"))
        })?;
        let metrics_token = get(raw, "metrics_token", Default::default(), |v| {
            let ok = v.is_empty()
                || (v.len() >= 16 && v.len() <= 256 && v.bytes().all(|b| b.is_ascii_graphic()));
            if ok {
                Ok(crate::scim::secret::Secret::new(v))
            } else {
                Err("must be 16 to 256 printable characters without spaces (openssl rand -hex 32), or empty".into())
            }
        })?;
        let slo_reach_check = get(raw, "slo_reach_check", true, |v| match v.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{v:?} is not true or false")),
        })?;
        let path = |v: &str| -> Result<Option<PathBuf>, String> {
            Ok((!v.trim().is_empty()).then(|| PathBuf::from(v.trim())))
        };
        let tls_cert = get(raw, "tls_cert", None, path)?;
        let tls_key = get(raw, "tls_key", None, path)?;
        match (&tls_cert, &tls_key) {
            (Some(_), None) => {
                return Err(ConfigError(
                    "tls_key: must be set with tls_cert (the private key of that certificate)"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "tls_cert: must be set with tls_key (the certificate of that key)".into(),
                ))
            }
            _ => {}
        }
        let http_listen = get(raw, "http_listen", None, |v| {
            if v.trim().is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{v:?} is not an address like 0.0.0.0:80 (or empty: off)"))
        })?;
        if http_listen.is_some() && tls_cert.is_none() {
            return Err(ConfigError(
                "http_listen: only redirects to HTTPS, so it needs tls_cert and tls_key".into(),
            ));
        }
        let behind_proxy = get(raw, "behind_proxy", false, |v| match v.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{v:?} is not true or false")),
        })?;
        let trusted_proxies = get(
            raw,
            "trusted_proxies",
            TrustedProxies::default(),
            TrustedProxies::parse,
        )?;
        if behind_proxy && trusted_proxies.is_empty() {
            return Err(ConfigError("behind_proxy: needs trusted_proxies, the addresses of the proxies whose X-Forwarded-For to believe".into()));
        }
        if !behind_proxy && !trusted_proxies.is_empty() {
            return Err(ConfigError(
                "trusted_proxies: is used only with behind_proxy = true".into(),
            ));
        }
        Ok(Config {
            tls_cert,
            tls_key,
            http_listen,
            behind_proxy,
            trusted_proxies,
            slo_reach_check,
            metrics_listen,
            metrics_token,
            metadata_fetch_allow,
            scim_reconcile_every,
            database_wait,
            password_min_length,
            listen,
            base_url,
            database_url,
            certs_dir,
            session_lifetime,
            login,
            secret_key,
            scim_concurrency,
        })
    }

    /// The effective configuration for `check-config`, with secrets redacted.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        if let Ok(mut u) = Url::parse(&c.database_url) {
            if u.password().is_some() && u.set_password(Some("REDACTED")).is_ok() {
                c.database_url = u.to_string();
            }
        }
        c
    }

    /// Whether this server serves `/metrics` (on a listener of its own, or on `listen` with
    /// the token).
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_listen.is_some() || !self.metrics_token.is_empty()
    }

    /// Whether cookies and HSTS may assume HTTPS.
    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The certificate and key files, when sesame serves HTTPS itself.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        self.tls_cert.as_deref().zip(self.tls_key.as_deref())
    }

    /// How the main listener learns who a request comes from (`serve::proxy`).
    pub fn proxy_rule(&self) -> ProxyRule {
        ProxyRule {
            tls: self.tls_files().is_some(),
            trusted: self.behind_proxy.then(|| self.trusted_proxies.clone()),
        }
    }
}

fn parse_base_url(v: &str) -> Result<Url, String> {
    let u = Url::parse(v).map_err(|e| format!("{v:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(format!(
            "{v:?} must be an http:// or https:// URL with a host"
        ));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{v:?} must not have a query or fragment"));
    }
    // A trailing slash makes `join` keep any path prefix (`https://h/sso/` + `saml2/x`).
    let mut u = u;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// `90`, `90s`, `15m`, `8h`, `7d`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{v:?} is not a duration like 90s, 15m, 8h or 7d"))?;
    let scale: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{v:?} is not a duration like 90s, 15m, 8h or 7d")),
    };
    // An overflow is out of range too (`n * scale` would wrap in a release build).
    let secs = n.saturating_mul(scale);
    if secs == 0 || secs > 365 * 86_400 {
        return Err(format!("{v:?} must be between 1 second and 365 days"));
    }
    Ok(Duration::from_secs(secs))
}

fn as_human<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url, "sqlite://data/sesame.db");
        assert_eq!(c.session_lifetime, Duration::from_secs(8 * 3600));
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nsession_lifetime = \"2h\"\nlogin_max_failures = 3\n",
        )
        .unwrap();
        let c =
            Config::from_sources(Some(&path), &env(&[("SESAME_SESSION_LIFETIME", "30m")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(c.session_lifetime, Duration::from_secs(1800));
        assert_eq!(c.login.max_failures, 3);
    }

    #[test]
    fn bad_values_name_key_and_source() {
        let e = Config::from_sources(None, &env(&[("SESAME_LISTEN", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("listen (from SESAME_LISTEN):"), "{e}");
        let e = Config::from_sources(None, &env(&[("SESAME_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_url"), "{e}");
        let e = Config::from_sources(None, &env(&[("SESAME_BASE_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("base_url"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = Config::from_sources(Some(&path), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key \"lisen\""), "{e}");
    }

    #[test]
    fn redacts_database_password() {
        let c = Config::from_sources(
            None,
            &env(&[("SESAME_DATABASE_URL", "postgres://u:hunter2@h/db")]),
        )
        .unwrap();
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(
            !shown.contains("hunter2") && shown.contains("REDACTED"),
            "{shown}"
        );
    }

    #[test]
    fn metadata_fetch_allow_is_checked() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(c.metadata_fetch_allow.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[("SESAME_METADATA_FETCH_ALLOW", "md.corp, 10.0.0.0/8")]),
        )
        .unwrap();
        assert_eq!(c.metadata_fetch_allow.to_string(), "md.corp,10.0.0.0/8");
        let e = Config::from_sources(None, &env(&[("SESAME_METADATA_FETCH_ALLOW", "10.0.0.1/8")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("metadata_fetch_allow (from SESAME_METADATA_FETCH_ALLOW):"),
            "{e}"
        );
    }

    #[test]
    fn metrics_are_off_the_public_port_by_default() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.metrics_listen, None);
        assert!(c.metrics_token.is_empty() && !c.metrics_enabled());
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_METRICS_LISTEN", "127.0.0.1:9464"),
                ("SESAME_METRICS_TOKEN", "a-token-of-32-characters-or-so!!"),
            ]),
        )
        .unwrap();
        assert_eq!(c.metrics_listen, Some(([127, 0, 0, 1], 9464).into()));
        assert!(c.metrics_enabled());
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("a-token-of"), "{shown}");
        for (key, bad) in [
            ("SESAME_METRICS_LISTEN", "9464"),
            ("SESAME_METRICS_TOKEN", "short"),
            ("SESAME_METRICS_TOKEN", "sixteen chars with spaces"),
        ] {
            let e = Config::from_sources(None, &env(&[(key, bad)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("(from {key})")), "{e}");
        }
    }

    #[test]
    fn tls_and_proxy_settings_are_checked_together() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(c.tls_files().is_none() && c.http_listen.is_none() && !c.behind_proxy);
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_TLS_CERT", "/etc/sesame/fullchain.pem"),
                ("SESAME_TLS_KEY", "/etc/sesame/privkey.pem"),
                ("SESAME_HTTP_LISTEN", "0.0.0.0:80"),
            ]),
        )
        .unwrap();
        assert!(c.tls_files().is_some() && c.proxy_rule().tls);
        assert_eq!(c.http_listen, Some(([0, 0, 0, 0], 80).into()));
        for (pairs, key) in [
            (&[("SESAME_TLS_CERT", "c.pem")][..], "tls_key:"),
            (&[("SESAME_TLS_KEY", "k.pem")][..], "tls_cert:"),
            (&[("SESAME_HTTP_LISTEN", "0.0.0.0:80")][..], "http_listen:"),
            (&[("SESAME_BEHIND_PROXY", "true")][..], "behind_proxy:"),
            (
                &[("SESAME_TRUSTED_PROXIES", "10.0.0.0/8")][..],
                "trusted_proxies:",
            ),
            (&[("SESAME_BEHIND_PROXY", "yes")][..], "behind_proxy (from"),
        ] {
            let e = Config::from_sources(None, &env(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(key) && !e.contains('\n'), "{e}");
        }
        // A list in the file, as the environment's comma-separated string.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(
            &path,
            "behind_proxy = true\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n",
        )
        .unwrap();
        let c = Config::from_sources(Some(&path), &env(&[])).unwrap();
        assert_eq!(c.trusted_proxies.to_string(), "10.0.0.0/8,127.0.0.1/32");
        assert!(c.proxy_rule().trusted.is_some());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
        // A product that overflows is out of range, not a panic or a wrapped value.
        assert!(parse_duration("999999999999999999d").is_err());
        assert!(parse_duration("213503982334601h").is_err());
    }
}
