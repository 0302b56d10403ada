//! The gauges read when `/metrics` is scraped: the SCIM queue and target states and the
//! open sessions (from the database), the pools and signing certificates (from memory and
//! the key files), and the process (from `/proc`). They are written straight into the
//! exposition, so they describe this server's database as it is now, and an app that is
//! gone is gone from them too (a recorder's gauges would keep it until restart).

use std::time::{SystemTime, UNIX_EPOCH};

use super::Exposition;
use crate::saml::keyring::LiveKeys;
use crate::saml::keys::KeySet;
use crate::scim::target::TargetState;
use crate::store::vitals::{self, TargetVitals};
use crate::store::{now_ms, Db, StoreError};

/// When this process started serving metrics (unix seconds).
static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

pub(super) fn mark_start() {
    STARTED.get_or_init(unix_now);
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the database said at this scrape.
struct FromDb {
    targets: Vec<TargetVitals>,
    sessions: i64,
    apps: Vec<String>,
}

async fn read(db: &Db) -> Result<FromDb, StoreError> {
    let mut conn = db.read().await?;
    Ok(FromDb {
        targets: vitals::targets(&mut conn).await?,
        sessions: vitals::open_sessions(&mut conn).await?,
        apps: vitals::app_slugs(&mut conn).await?,
    })
}

/// The scrape-time gauges as exposition text.
pub async fn render(db: &Db, keys: &LiveKeys) -> String {
    let mut e = Exposition::new();
    let from_db = match read(db).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database gauges could not be read");
            None
        }
    };
    e.gauge(
        "sesame_database_reachable",
        "1 when this scrape could read the database gauges, else 0 (and they are left out)",
    )
    .sample(
        "sesame_database_reachable",
        &[],
        f64::from(u8::from(from_db.is_some())),
    );
    if let Some(d) = &from_db {
        scim(&mut e, &d.targets);
        e.gauge(
            "sesame_sessions_open",
            "Portal sessions of a signed-in user that have not expired",
        )
        .sample("sesame_sessions_open", &[], d.sessions as f64);
    }
    pools(&mut e, db);
    certificates(&mut e, keys, from_db.as_ref().map_or(&[][..], |d| &d.apps));
    process(&mut e);
    e.finish()
}

fn scim(e: &mut Exposition, targets: &[TargetVitals]) {
    let now = now_ms();
    let each =
        |e: &mut Exposition, name: &str, help: &str, value: &dyn Fn(&TargetVitals) -> f64| {
            e.gauge(name, help);
            for t in targets {
                e.sample(name, &[("target", &t.slug)], value(t));
            }
        };
    each(
        e,
        "sesame_scim_queue_depth",
        "Provisioning jobs queued for a SCIM target (the same on every replica)",
        &|t| t.depth as f64,
    );
    each(
        e,
        "sesame_scim_queue_oldest_age_seconds",
        "Age of the oldest job queued for a SCIM target (0 when none)",
        &|t| {
            t.oldest_at
                .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0)
        },
    );
    each(
        e,
        "sesame_scim_target_failures",
        "Failed requests in a row to a SCIM target (quarantined at 20)",
        &|t| t.failures as f64,
    );
    each(
        e,
        "sesame_scim_target_throttled",
        "1 while a SCIM target is paused for its Retry-After (429/503), else 0",
        &|t| f64::from(u8::from(t.paused_until > now)),
    );
    let name = "sesame_scim_target_state";
    e.gauge(
        name,
        "1 for the state a SCIM target is in (inactive, active, paused, stopped, quarantined), 0 for the others",
    );
    for t in targets {
        for s in TargetState::ALL {
            let on = f64::from(u8::from(s == t.state));
            e.sample(name, &[("target", &t.slug), ("state", s.as_str())], on);
        }
    }
}

fn pools(e: &mut Exposition, db: &Db) {
    let name = "sesame_db_pool_connections";
    e.gauge(
        name,
        "Database connections open, by pool (reader and writer on SQLite, shared on PostgreSQL) and state",
    );
    for p in db.pools() {
        let busy = (p.open as usize).saturating_sub(p.idle) as f64;
        e.sample(name, &[("pool", p.pool), ("state", "idle")], p.idle as f64);
        e.sample(name, &[("pool", p.pool), ("state", "busy")], busy);
    }
}

/// When each active signing certificate expires: the shared one, and each app's own.
fn certificates(e: &mut Exposition, keys: &LiveKeys, apps: &[String]) {
    let name = "sesame_signing_certificate_expiry_timestamp_seconds";
    e.gauge(
        name,
        "When the active signing certificate expires (unix seconds): scope shared, or app with the app's own key",
    );
    if let Some(t) = not_after(&keys.get()) {
        e.sample(name, &[("scope", "shared"), ("app", "")], t);
    }
    for slug in apps {
        if let Some(t) = keys.own(slug).as_deref().and_then(not_after) {
            e.sample(name, &[("scope", "app"), ("app", slug)], t);
        }
    }
}

fn not_after(set: &KeySet) -> Option<f64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(set.active.cert.not_after()).ok()?;
    Some(f64::from(d.days) * 86_400.0 + f64::from(d.secs))
}

fn process(e: &mut Exposition) {
    if let Some(rss) = resident_bytes() {
        e.gauge(
            "sesame_process_resident_memory_bytes",
            "Resident memory of the sesame process (from /proc/self/statm)",
        )
        .sample("sesame_process_resident_memory_bytes", &[], rss as f64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        e.gauge(
            "sesame_process_open_fds",
            "Open file descriptors of the sesame process",
        )
        .sample("sesame_process_open_fds", &[], fds.count() as f64);
    }
    e.gauge(
        "sesame_start_time_seconds",
        "When this server started serving metrics (unix seconds)",
    )
    .sample(
        "sesame_start_time_seconds",
        &[],
        STARTED.get().copied().unwrap_or_else(unix_now).floor(),
    );
    e.gauge("sesame_build_info", "Always 1; the version is the label")
        .sample(
            "sesame_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
}

/// Resident set size: `/proc/self/statm`'s second field, in pages.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The page size from the auxiliary vector (`AT_PAGESZ`), without calling into libc;
/// 4 KiB when it cannot be read.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    const WORD: usize = std::mem::size_of::<usize>();
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 4096;
    };
    let word = |b: &[u8]| -> u64 {
        let mut a = [0u8; WORD];
        a.copy_from_slice(b);
        usize::from_ne_bytes(a) as u64
    };
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .find(|(k, _)| *k == AT_PAGESZ)
        .map_or(4096, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let page = page_size();
        assert!(page.is_power_of_two() && page >= 4096, "{page}");
        let rss = resident_bytes().expect("statm");
        assert!(rss > 1 << 20, "{rss}");
    }
}
