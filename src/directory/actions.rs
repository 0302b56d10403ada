//! The actions an admin takes on one user or one group, named by the last segment of a route
//! (`POST /admin/users/{u}/{action}`, `POST /api/v1/users/{u}/{action}`,
//! `POST /admin/groups/{g}/{action}`): parsed once, then matched exhaustively. An unknown
//! name is no action at all (the handlers answer 404).

/// What can be done to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    Suspend,
    Activate,
    /// Lift a lockout after failed sign-ins.
    Unlock,
    /// Set a password (temporary unless said otherwise).
    Password,
    /// Add the user to a group (the user page's form).
    Join,
    Delete,
    /// Remove the user's second factors (a lost phone); they set up a new one at next
    /// sign-in if the policy asks for one.
    ResetMfa,
    /// End every session of the user (a stolen laptop).
    SignOut,
    /// Send (again) a link to set their own password (`auth::invite`).
    Invite,
}

impl UserAction {
    pub const ALL: [UserAction; 9] = [
        UserAction::Invite,
        UserAction::SignOut,
        UserAction::Suspend,
        UserAction::Activate,
        UserAction::Unlock,
        UserAction::Password,
        UserAction::Join,
        UserAction::Delete,
        UserAction::ResetMfa,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The route segment.
    pub fn name(self) -> &'static str {
        match self {
            UserAction::Suspend => "suspend",
            UserAction::Activate => "activate",
            UserAction::Unlock => "unlock",
            UserAction::Password => "password",
            UserAction::Join => "join",
            UserAction::Delete => "delete",
            UserAction::ResetMfa => "reset-mfa",
            UserAction::SignOut => "sign-out",
            UserAction::Invite => "invite",
        }
    }
}

/// What can be done to a group from its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupAction {
    /// Add the named user.
    Add,
    /// Remove the named user.
    Remove,
    /// Rename, or change the description.
    Edit,
    Delete,
}

impl GroupAction {
    pub const ALL: [GroupAction; 4] = [
        GroupAction::Add,
        GroupAction::Remove,
        GroupAction::Edit,
        GroupAction::Delete,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            GroupAction::Add => "add",
            GroupAction::Remove => "remove",
            GroupAction::Edit => "edit",
            GroupAction::Delete => "delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_none() {
        for a in UserAction::ALL {
            assert_eq!(UserAction::parse(a.name()), Some(a));
        }
        for a in GroupAction::ALL {
            assert_eq!(GroupAction::parse(a.name()), Some(a));
        }
        for bad in ["", "Suspend", "suspend ", "bogus", "delete/"] {
            assert_eq!(UserAction::parse(bad), None, "{bad:?}");
            assert_eq!(GroupAction::parse(bad), None, "{bad:?}");
        }
    }
}
