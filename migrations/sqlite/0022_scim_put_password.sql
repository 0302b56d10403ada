-- Targets without PATCH (RFC 7644 §3.5.1 PUT instead of §3.5.2 PATCH) and password sync.
-- What /ServiceProviderConfig said (RFC 7643 §5): patch.supported, etag.supported; read by
-- Test connection and by the worker on first contact (discovered_at 0: not read yet).
ALTER TABLE scim_targets ADD COLUMN patch_supported INTEGER NOT NULL DEFAULT 1;
ALTER TABLE scim_targets ADD COLUMN etag_supported INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scim_targets ADD COLUMN discovered_at INTEGER NOT NULL DEFAULT 0;
-- Opt-in, per app: a password a user sets in sesame is sent once to the target.
ALTER TABLE scim_targets ADD COLUMN password_sync INTEGER NOT NULL DEFAULT 0;

-- One-shot password sends: the new password sealed (AES-256-GCM, the key outside the
-- database; never in clear), written with the password change, deleted once sent or given up.
CREATE TABLE scim_password_jobs (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (app_id, user_id)
);
