-- Admin API tokens (SQLite). Only the SHA-256 of a token is stored; a token acts as its
-- owner, an admin at creation, and stops working when revoked or when the owner is no
-- longer an active admin.
CREATE TABLE admin_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
