-- Inbound SCIM (sesame as a SCIM service provider, SQLite). A source is an HR system or
-- an IdP that provisions into sesame with its own bearer token (only its SHA-256 is kept).
-- What a source creates it owns: `scim_owned` names the owner of a user or a group, and the
-- source's externalId for it. Revoking a source releases what it owned (rows deleted).
CREATE TABLE scim_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE scim_owned (
    kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    local_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL REFERENCES scim_sources(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, local_id)
);
CREATE INDEX scim_owned_source ON scim_owned(source_id);
