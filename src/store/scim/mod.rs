//! The SCIM bridge's tables, one file each: `targets` (per-app settings and state),
//! `links` (our user ↔ the target's user), `group_links` (pushed groups) and `jobs` (the
//! durable queue). Every SQL statement about them lives here.

mod group_links;
mod jobs;
mod links;
mod passwords;
mod targets;

pub use group_links::*;
pub use jobs::*;
pub use links::*;
pub use passwords::*;
pub use targets::*;

use crate::scim::target::TargetState;
use crate::store::StoreError;

/// Reads a column's word as one of the domain's values (`scim::target`, `scim::job`); a
/// word the domain does not know is an error, never a guess.
fn decode<T>(
    column: &'static str,
    word: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(word).ok_or_else(|| StoreError::Unknown {
        column,
        value: word.to_string(),
    })
}

/// `('a', 'b')`: the states for which `holds` is true, for `state IN ...`, so the queries
/// follow `TargetState`'s rules. Our own constant words, never input.
fn states_where(holds: fn(TargetState) -> bool) -> String {
    let words: Vec<String> = TargetState::ALL
        .into_iter()
        .filter(|s| holds(*s))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", words.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lists_follow_the_domain_rules() {
        assert_eq!(states_where(TargetState::sends_requests), "('active')");
        assert_eq!(
            states_where(TargetState::queues_changes),
            "('active', 'paused', 'stopped', 'quarantined')"
        );
    }

    #[test]
    fn an_unknown_word_is_an_error() {
        assert_eq!(
            decode("t.c", "active", TargetState::parse).ok(),
            Some(TargetState::Active)
        );
        let e = decode("scim_targets.state", "running", TargetState::parse).unwrap_err();
        assert!(matches!(
            e,
            StoreError::Unknown {
                column: "scim_targets.state",
                ..
            }
        ));
        assert!(e.to_string().contains("\"running\""), "{e}");
    }
}
