-- The deletion threshold (SECURITY 16): deprovisionings counted per window, atomically, and
-- an admin's approval to go past the threshold until approved_until.
ALTER TABLE scim_targets ADD COLUMN approved_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scim_targets ADD COLUMN deprov_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scim_targets ADD COLUMN deprov_used INTEGER NOT NULL DEFAULT 0;
