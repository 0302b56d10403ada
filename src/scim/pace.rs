//! Pacing per target (AIMD): unlimited until the target first answers 429; then sesame sends
//! at a rate learned from what the target accepted, lowered 5 % at most once a second while
//! it keeps throttling, raised 1 % a second while it does not. Rate-limited SaaS targets
//! are then used close to their limit instead of in bursts and pauses.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Pace {
    /// Requests per second, once learned.
    rate: Option<f64>,
    next: Instant,
    accepted: VecDeque<Instant>,
    raised: Instant,
    lowered: Instant,
}

fn table() -> &'static Mutex<HashMap<String, Pace>> {
    static T: OnceLock<Mutex<HashMap<String, Pace>>> = OnceLock::new();
    T.get_or_init(Mutex::default)
}

const WINDOW: Duration = Duration::from_secs(1);

fn with<R>(target: &str, f: impl FnOnce(&mut Pace) -> R) -> R {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let p = t.entry(target.to_string()).or_insert_with(|| Pace {
        rate: None,
        next: now,
        accepted: VecDeque::new(),
        raised: now,
        lowered: now,
    });
    f(p)
}

/// Waits for this request's turn at `target`.
pub async fn slot(target: &str) {
    let at = with(target, |p| {
        let rate = p.rate?;
        let now = Instant::now();
        if now.duration_since(p.raised) >= WINDOW && now.duration_since(p.lowered) >= WINDOW {
            p.rate = Some(rate * 1.01);
            p.raised = now;
        }
        let slot = p.next.max(now);
        p.next = slot + Duration::from_secs_f64(1.0 / p.rate.unwrap_or(rate).max(0.5));
        Some(slot)
    });
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Records an answer: `throttled` for 429/503 with Retry-After.
pub fn observe(target: &str, throttled: bool) {
    with(target, |p| {
        let now = Instant::now();
        while p
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            p.accepted.pop_front();
        }
        if !throttled {
            p.accepted.push_back(now);
            return;
        }
        match p.rate {
            None => {
                let seen = p.accepted.len() as f64 / WINDOW.as_secs_f64();
                p.rate = Some((seen * 0.95).max(1.0));
                p.lowered = now;
            }
            Some(r) if now.duration_since(p.lowered) >= WINDOW => {
                p.rate = Some((r * 0.95).max(1.0));
                p.lowered = now;
            }
            Some(_) => {}
        }
    });
}

/// Whether sesame already paces `target` (then a 429 delays only the request it answered).
pub fn pacing(target: &str) -> bool {
    with(target, |p| p.rate.is_some())
}
