-- Second factors (PostgreSQL). An authenticator app's TOTP secret (RFC 6238), sealed with
-- secret_key like the SCIM credentials; `last_step` is the last time step accepted, so a
-- code is used once. Recovery codes are kept as SHA-256 hashes and used once. Settings hold
-- the MFA policy (optional, admins, everyone); an app can require MFA on its own.
CREATE TABLE mfa_totp (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE mfa_recovery (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
ALTER TABLE app_sso ADD COLUMN require_mfa BIGINT NOT NULL DEFAULT 0;
