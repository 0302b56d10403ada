//! A target's provisioning state and the one table of how it changes: which state becomes
//! which on which transition (an admin's activate, deactivate, resume, approve, reject; the
//! engine's quarantine, stop, pause), and what each state allows. The engine, the admin
//! operations, the console, the API and the CLI ask here instead of comparing strings; the
//! store converts to and from the column's words (`as_str`, `parse`), which are also the
//! API's.

use serde::Serialize;

/// Where a target stands. The words are the `scim_targets.state` column's and the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Never activated, or deactivated: nothing is queued or sent.
    Inactive,
    /// Provisioning: directory changes are queued and sent.
    Active,
    /// The deletion threshold tripped (SECURITY 16): changes queue up until an admin
    /// approves or rejects the batch.
    Paused,
    /// The target refused the credentials (401/403): changes queue up until resumed.
    Stopped,
    /// Too many failed requests in a row (SECURITY 15): changes queue up until resumed.
    Quarantined,
}

/// What moves a target from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// An admin starts provisioning (again): from any state.
    Activate,
    /// An admin stops provisioning; links and settings are kept.
    Deactivate,
    /// An admin resumes a target the engine stopped, quarantined or paused.
    Resume,
    /// An admin lets a paused deprovisioning batch go ahead.
    Approve,
    /// An admin drops a paused deprovisioning batch.
    Reject,
    /// The engine: too many failed requests in a row.
    Quarantine,
    /// The engine: the target refused the credentials.
    Stop,
    /// The engine: the deletion threshold tripped.
    Pause,
}

/// Why a transition does not apply to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Resume is for a target that was activated (and then stopped): use activate.
    NotActivated,
    /// Approve and reject are for a paused deprovisioning batch only.
    NoBatch,
    /// Only a target that sends requests can fail them.
    NotSending,
}

impl TargetState {
    pub const ALL: [TargetState; 5] = [
        TargetState::Inactive,
        TargetState::Active,
        TargetState::Paused,
        TargetState::Stopped,
        TargetState::Quarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Inactive => "inactive",
            TargetState::Active => "active",
            TargetState::Paused => "paused",
            TargetState::Stopped => "stopped",
            TargetState::Quarantined => "quarantined",
        }
    }

    pub fn parse(s: &str) -> Option<TargetState> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The transition table: the state `t` leads to from this one, or why it does not apply.
    pub fn after(self, t: Transition) -> Result<TargetState, Refusal> {
        use TargetState::*;
        use Transition as T;
        match (self, t) {
            (_, T::Activate) => Ok(Active),
            (_, T::Deactivate) => Ok(Inactive),
            (Inactive, T::Resume) => Err(Refusal::NotActivated),
            (_, T::Resume) => Ok(Active),
            (Paused, T::Approve | T::Reject) => Ok(Active),
            (_, T::Approve | T::Reject) => Err(Refusal::NoBatch),
            (Active, T::Quarantine) => Ok(Quarantined),
            (Active, T::Stop) => Ok(Stopped),
            (Active, T::Pause) => Ok(Paused),
            (_, T::Quarantine | T::Stop | T::Pause) => Err(Refusal::NotSending),
        }
    }

    /// The worker sends this target's jobs, and its reconciliation is scheduled.
    pub fn sends_requests(self) -> bool {
        self == TargetState::Active
    }

    /// Directory changes are queued for the target (and sent once it is active).
    pub fn queues_changes(self) -> bool {
        self != TargetState::Inactive
    }

    /// "Sync now" may start a reconciliation.
    pub fn accepts_sync(self) -> bool {
        self == TargetState::Active
    }

    /// The console shows "Sync now" (refused, with the reason, unless `accepts_sync`).
    pub fn offers_sync(self) -> bool {
        self != TargetState::Inactive
    }

    /// The console offers the admin's transition `t` as a button: Activate when inactive,
    /// Deactivate otherwise, Resume when stopped or quarantined (a paused target offers
    /// Approve and Reject instead). The engine's transitions are never offered.
    pub fn offers(self, t: Transition) -> bool {
        use TargetState::*;
        use Transition as T;
        match t {
            T::Activate => self == Inactive,
            T::Deactivate => self != Inactive,
            T::Resume => matches!(self, Stopped | Quarantined),
            T::Approve | T::Reject => self == Paused,
            T::Quarantine | T::Stop | T::Pause => false,
        }
    }
}

impl std::fmt::Display for TargetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transitions an admin switches with: `sesame scim activate|deactivate|resume`, the
/// console's buttons and the API's actions of the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Activate,
    Deactivate,
    Resume,
}

impl Switch {
    pub const ALL: [Switch; 3] = [Switch::Activate, Switch::Deactivate, Switch::Resume];

    pub fn as_str(self) -> &'static str {
        match self {
            Switch::Activate => "activate",
            Switch::Deactivate => "deactivate",
            Switch::Resume => "resume",
        }
    }

    pub fn parse(s: &str) -> Option<Switch> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn transition(self) -> Transition {
        match self {
            Switch::Activate => Transition::Activate,
            Switch::Deactivate => Transition::Deactivate,
            Switch::Resume => Transition::Resume,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TargetState::*;
    use super::Transition as T;
    use super::*;

    const TRANSITIONS: [Transition; 8] = [
        T::Activate,
        T::Deactivate,
        T::Resume,
        T::Approve,
        T::Reject,
        T::Quarantine,
        T::Stop,
        T::Pause,
    ];

    #[test]
    fn states_parse_from_and_format_to_the_column_words() {
        let words = ["inactive", "active", "paused", "stopped", "quarantined"];
        for (s, w) in TargetState::ALL.into_iter().zip(words) {
            assert_eq!(s.as_str(), w);
            assert_eq!(s.to_string(), w);
            assert_eq!(TargetState::parse(w), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), w);
        }
        for bad in ["", "Active", "ACTIVE", " active", "running"] {
            assert_eq!(TargetState::parse(bad), None, "{bad:?}");
        }
        for w in ["activate", "deactivate", "resume"] {
            assert_eq!(Switch::parse(w).map(Switch::as_str), Some(w));
        }
        assert_eq!(Switch::parse("approve"), None);
    }

    #[test]
    fn the_transition_table() {
        // One row per state: what each transition leads to (-: refused).
        const X: Option<TargetState> = None;
        let (a, i, p, s, q) = (
            Some(Active),
            Some(Inactive),
            Some(Paused),
            Some(Stopped),
            Some(Quarantined),
        );
        #[rustfmt::skip]
        let table = [
            //            activate deactivate resume approve reject quarantine stop pause
            (Inactive,    [a,      i,         X,     X,      X,     X,         X,   X]),
            (Active,      [a,      i,         a,     X,      X,     q,         s,   p]),
            (Paused,      [a,      i,         a,     a,      a,     X,         X,   X]),
            (Stopped,     [a,      i,         a,     X,      X,     X,         X,   X]),
            (Quarantined, [a,      i,         a,     X,      X,     X,         X,   X]),
        ];
        for (from, row) in table {
            for (t, want) in TRANSITIONS.into_iter().zip(row) {
                assert_eq!(from.after(t).ok(), want, "{from} on {t:?}");
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(Inactive.after(T::Resume), Err(Refusal::NotActivated));
        for s in [Inactive, Active, Stopped, Quarantined] {
            assert_eq!(s.after(T::Approve), Err(Refusal::NoBatch), "{s}");
            assert_eq!(s.after(T::Reject), Err(Refusal::NoBatch), "{s}");
        }
        for s in [Inactive, Paused, Stopped, Quarantined] {
            for t in [T::Quarantine, T::Stop, T::Pause] {
                assert_eq!(s.after(t), Err(Refusal::NotSending), "{s} on {t:?}");
            }
        }
    }

    #[test]
    fn what_each_state_allows() {
        for s in TargetState::ALL {
            assert_eq!(s.sends_requests(), s == Active, "{s}");
            assert_eq!(s.accepts_sync(), s == Active, "{s}");
            assert_eq!(s.queues_changes(), s != Inactive, "{s}");
            assert_eq!(s.offers_sync(), s != Inactive, "{s}");
        }
        let offered = |s: TargetState| -> Vec<Transition> {
            TRANSITIONS.into_iter().filter(|t| s.offers(*t)).collect()
        };
        assert_eq!(offered(Inactive), [T::Activate]);
        assert_eq!(offered(Active), [T::Deactivate]);
        assert_eq!(offered(Paused), [T::Deactivate, T::Approve, T::Reject]);
        assert_eq!(offered(Stopped), [T::Deactivate, T::Resume]);
        assert_eq!(offered(Quarantined), [T::Deactivate, T::Resume]);
    }

    #[test]
    fn every_offered_transition_is_allowed() {
        for s in TargetState::ALL {
            for t in TRANSITIONS {
                if s.offers(t) {
                    assert!(s.after(t).is_ok(), "{s} offers {t:?} but refuses it");
                }
            }
        }
    }

    #[test]
    fn switches_are_the_admin_transitions_of_the_same_name() {
        assert_eq!(Switch::Activate.transition(), T::Activate);
        assert_eq!(Switch::Deactivate.transition(), T::Deactivate);
        assert_eq!(Switch::Resume.transition(), T::Resume);
    }
}
