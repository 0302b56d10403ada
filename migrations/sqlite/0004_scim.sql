-- The SCIM bridge (SQLite): per-app targets, links to remote users and groups, and the
-- durable queue.
CREATE TABLE scim_targets (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    connector TEXT NOT NULL,
    base_url TEXT NOT NULL,
    auth TEXT NOT NULL,
    basic_user TEXT NOT NULL DEFAULT '',
    -- AES-256-GCM sealed token or password (SECURITY 14); never in clear.
    secret TEXT NOT NULL DEFAULT '',
    excluded TEXT NOT NULL DEFAULT '[]',
    deprovision TEXT NOT NULL DEFAULT 'deactivate',
    push_groups INTEGER NOT NULL DEFAULT 0,
    -- SECURITY 16: more deprovisionings than this within an hour pause the target (0: off);
    -- deprov_since/deprov_used count them atomically; an approval lasts until approved_until.
    deletion_threshold INTEGER NOT NULL DEFAULT 0,
    deprov_since INTEGER NOT NULL DEFAULT 0,
    deprov_used INTEGER NOT NULL DEFAULT 0,
    approved_until INTEGER NOT NULL DEFAULT 0,
    -- inactive | active | stopped (401/403) | quarantined (repeated failures) | paused (threshold)
    state TEXT NOT NULL DEFAULT 'inactive',
    state_reason TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    -- Throttled (429/503): no worker sends anything before this time.
    paused_until INTEGER NOT NULL DEFAULT 0,
    last_sync_at INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- A sesame user linked to the target's user. No foreign key on user_id: the link outlives a
-- deleted user until the target has been told.
CREATE TABLE scim_links (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    username TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    synced TEXT NOT NULL,
    active INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

-- A sesame group pushed to the target (push_groups); members holds the remote user ids
-- last sent. No foreign key on group_id, for the same reason.
CREATE TABLE scim_group_links (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    members TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id)
);

-- One row per (app, user or group) that needs looking at; written in the same transaction
-- as the directory change (SECURITY 15). generation grows when a newer change arrives.
CREATE TABLE scim_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    subject_id INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, kind, subject_id)
);
CREATE INDEX scim_jobs_due ON scim_jobs (not_before);
