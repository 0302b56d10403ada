-- The deletion threshold (SECURITY 16): deprovisionings counted per window, atomically, and
-- an admin's approval to go past the threshold until approved_until.
ALTER TABLE scim_targets ADD COLUMN approved_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scim_targets ADD COLUMN deprov_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scim_targets ADD COLUMN deprov_used BIGINT NOT NULL DEFAULT 0;
