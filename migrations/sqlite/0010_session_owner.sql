-- Whose session a row is (SQLite), so that a user can list their sessions and end one or
-- all of them, and an admin can sign a user out everywhere. Kept by the session store from
-- the record's user id on every save.
ALTER TABLE sessions ADD COLUMN user_id INTEGER;
CREATE INDEX sessions_user ON sessions(user_id);
UPDATE sessions SET user_id = json_extract(data, '$.uid') WHERE json_valid(data);
