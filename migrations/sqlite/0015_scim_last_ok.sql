-- When a request to the target last succeeded (unix ms; 0: never), shown apart from the
-- last full sync started and the last error, so a target that is down cannot look healthy.
ALTER TABLE scim_targets ADD COLUMN last_ok_at INTEGER NOT NULL DEFAULT 0;
