//! What a queued provisioning job is about: one user's account or one pushed group. The
//! words are the `scim_jobs.kind` column's; the store parses and formats them here.

/// The subject of a job in the queue (`scim_jobs.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `subject_id` is a user: create, update or deprovision their account.
    User,
    /// `subject_id` is a group: push it with its members, or remove it.
    Group,
}

impl JobKind {
    pub const ALL: [JobKind; 2] = [JobKind::User, JobKind::Group];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::User => "user",
            JobKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_kinds_parse_from_and_format_to_the_column_words() {
        for (k, w) in JobKind::ALL.into_iter().zip(["user", "group"]) {
            assert_eq!(k.as_str(), w);
            assert_eq!(JobKind::parse(w), Some(k));
        }
        for bad in ["", "User", "users", "app"] {
            assert_eq!(JobKind::parse(bad), None, "{bad:?}");
        }
    }
}
