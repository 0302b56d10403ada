-- When Test connection last passed (unix ms; 0: not since the URL, connector or credential
-- last changed). The console asks for a passed test, or a confirmation, before Activate.
ALTER TABLE scim_targets ADD COLUMN tested_at BIGINT NOT NULL DEFAULT 0;
