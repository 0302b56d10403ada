-- Per-app SAML settings and the registered Assertion Consumer Service URLs (SQLite).
CREATE TABLE app_sso (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    sp_entity_id TEXT NOT NULL DEFAULT '',
    idp_entity_id TEXT NOT NULL DEFAULT '',
    nameid_format TEXT NOT NULL DEFAULT 'email',
    nameid_source TEXT NOT NULL DEFAULT 'email',
    relay_state TEXT NOT NULL DEFAULT '',
    sign_response INTEGER NOT NULL DEFAULT 0,
    require_signed_requests INTEGER NOT NULL DEFAULT 0,
    allow_sha1 INTEGER NOT NULL DEFAULT 0,
    sp_certs TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);

-- ACS URLs are compared byte for byte (SECURITY 5); idx is the AssertionConsumerServiceIndex.
CREATE TABLE app_acs (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    url TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, idx)
);
