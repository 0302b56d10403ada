-- E-mail (issue 15 §2), SQLite. The outbox: mail waiting to be sent by the server's mail
-- worker, written in the same transaction as what it tells about (a target's state change)
-- so none is lost or sent twice; a row is deleted once sent or given up. Secret-bearing
-- payloads (reset and invitation links) are sealed with secret_key. One-time user tokens
-- (password reset, invitation) are kept as SHA-256 hashes only. Where an app's failure
-- notifications go.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_addr TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_at);
CREATE TABLE user_tokens (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
CREATE TABLE app_notify (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    email TEXT NOT NULL
);
