-- Whose session a row is (PostgreSQL), so that a user can list their sessions and end one or
-- all of them, and an admin can sign a user out everywhere. Kept by the session store from
-- the record's user id on every save.
ALTER TABLE sessions ADD COLUMN user_id BIGINT;
CREATE INDEX sessions_user ON sessions(user_id);
UPDATE sessions SET user_id = (data::jsonb->>'uid')::bigint WHERE data::jsonb ? 'uid';
