//! Failure notifications (issue 15 §2): when a target is stopped (401/403), quarantined or
//! paused by the deletion threshold, and when it runs again, a mail to the app's
//! notification address is queued in the transaction of the state change. Called from
//! the two places a state changes (the engine's `enter` and the admin's `lifecycle`) only
//! when it did change, so a mail goes out once per change, never once per failed job.

use super::TargetState;
use crate::directory::App;
use crate::mail::{outbox, Mail};
use crate::store::{mail as store, Conn, StoreError};

/// Whether moving from `from` to `to` is worth a mail.
pub fn worth_a_mail(from: TargetState, to: TargetState) -> bool {
    use TargetState::*;
    let halted = |s| matches!(s, Stopped | Quarantined | Paused);
    (from == Active && halted(to)) || (halted(from) && to == Active)
}

/// Queues the mail for a change from `from` to `to`, if the app has an address for it.
pub async fn state_changed(
    conn: &mut Conn,
    app: &App,
    from: TargetState,
    to: TargetState,
    reason: &str,
) -> Result<(), StoreError> {
    if !worth_a_mail(from, to) {
        return Ok(());
    }
    let Some(addr) = store::notify_address(conn, app.id).await? else {
        return Ok(());
    };
    let mail = Mail::TargetState {
        app_slug: app.slug.clone(),
        app_name: app.label.clone(),
        state: to.as_str().into(),
        from: from.as_str().into(),
        reason: reason.into(),
    };
    outbox::push(conn, &addr, &mail).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TargetState::*;
    use super::*;

    #[test]
    fn mails_for_halting_and_recovering_only() {
        for to in [Stopped, Quarantined, Paused] {
            assert!(worth_a_mail(Active, to));
            assert!(worth_a_mail(to, Active));
            assert!(!worth_a_mail(to, Inactive));
            assert!(!worth_a_mail(to, to));
        }
        assert!(!worth_a_mail(Inactive, Active));
        assert!(!worth_a_mail(Active, Inactive));
        assert!(!worth_a_mail(Active, Active));
    }
}
