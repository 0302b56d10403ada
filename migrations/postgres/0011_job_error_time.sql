-- When a SCIM job last failed (PostgreSQL), so that the console and the API can say what is
-- failing, since when, how many retries, and when the next one is.
ALTER TABLE scim_jobs ADD COLUMN last_error_at BIGINT NOT NULL DEFAULT 0;
