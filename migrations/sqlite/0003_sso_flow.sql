-- Single sign-on at run time (SQLite): attribute mappings, request replay protection,
-- requests parked while the user signs in, and per-app persistent NameIDs.
ALTER TABLE app_sso ADD COLUMN attributes TEXT NOT NULL DEFAULT '';

-- SECURITY 6: a (SP, request ID) pair is accepted once; rows outlive the IssueInstant window.
CREATE TABLE saml_seen_requests (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, request_id)
);

-- A validated request waiting for the user (login, or the 303 after an HTTP-POST request).
-- handle_hash is the SHA-256 of the single-use handle in the browser's URL.
CREATE TABLE saml_pending (
    handle_hash TEXT PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE saml_persistent_ids (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
