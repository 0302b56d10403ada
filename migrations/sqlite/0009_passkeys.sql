-- Passkeys (WebAuthn), SQLite. `credential` is webauthn-rs's Passkey as JSON (public key,
-- signature counter, backup flags), rewritten after each use; `cred_id` is its credential
-- ID (base64url), unique across users. `mfa_user_handles` is each user's WebAuthn user
-- handle, a random UUID (never the username: it is stored on the authenticator).
CREATE TABLE mfa_user_handles (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    handle TEXT NOT NULL UNIQUE
);
CREATE TABLE mfa_passkeys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cred_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX mfa_passkeys_user ON mfa_passkeys (user_id);
