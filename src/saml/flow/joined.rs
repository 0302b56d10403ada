//! Which SPs this process recently recorded as part of a portal session (Single Logout's
//! participants), so that signing in to the same app again in the same session does not
//! write the same row on every answer: the record is refreshed at most once a day (it is
//! kept for 30 days), or at once when the NameID changes (a transient one always does).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::saml::Participant;

/// How often a participant's row is written again while it is being used.
const REFRESH_MS: i64 = 24 * 60 * 60 * 1000;
/// Entries kept before the map starts over (each is a few hundred bytes).
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Default)]
pub struct Joined {
    map: Mutex<HashMap<(String, i64), (String, i64)>>,
}

impl Joined {
    /// Whether `p` was written with this NameID less than a day before `now` (unix ms).
    pub fn recent(&self, p: &Participant, now: i64) -> bool {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(p.session_index.clone(), p.app_id))
            .is_some_and(|(name_id, at)| *name_id == p.name_id && now - at < REFRESH_MS)
    }

    /// Notes that `p` was written at `now`.
    pub fn remember(&self, p: &Participant, now: i64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            (p.session_index.clone(), p.app_id),
            (p.name_id.clone(), now),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name_id: &str) -> Participant {
        Participant {
            session_index: "_s".into(),
            app_id: 7,
            user_id: 1,
            name_id: name_id.into(),
            name_id_format: "f".into(),
            sp_session_index: "_x".into(),
        }
    }

    #[test]
    fn written_once_a_day_or_when_the_name_id_changes() {
        let j = Joined::default();
        assert!(!j.recent(&p("ann"), 1_000));
        j.remember(&p("ann"), 1_000);
        assert!(j.recent(&p("ann"), 2_000));
        assert!(
            !j.recent(&p("_transient2"), 2_000),
            "another NameID is written"
        );
        assert!(
            !j.recent(&p("ann"), 1_000 + REFRESH_MS),
            "a day later it is refreshed"
        );
    }
}
