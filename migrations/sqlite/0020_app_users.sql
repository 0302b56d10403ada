-- Users assigned to an app directly, beside the groups bound to it (the one access rule,
-- store::apps::grants, takes both).
CREATE TABLE app_users (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_users_user ON app_users(user_id);
