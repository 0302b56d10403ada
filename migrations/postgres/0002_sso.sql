-- Per-app SAML settings and the registered Assertion Consumer Service URLs (PostgreSQL).
CREATE TABLE app_sso (
    app_id BIGINT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    sp_entity_id TEXT NOT NULL DEFAULT '',
    idp_entity_id TEXT NOT NULL DEFAULT '',
    nameid_format TEXT NOT NULL DEFAULT 'email',
    nameid_source TEXT NOT NULL DEFAULT 'email',
    relay_state TEXT NOT NULL DEFAULT '',
    sign_response BIGINT NOT NULL DEFAULT 0,
    require_signed_requests BIGINT NOT NULL DEFAULT 0,
    allow_sha1 BIGINT NOT NULL DEFAULT 0,
    sp_certs TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- ACS URLs are compared byte for byte (SECURITY 5); idx is the AssertionConsumerServiceIndex.
CREATE TABLE app_acs (
    app_id BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    url TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, idx)
);
