-- Attribute mapping (issue 16): three profile fields to map from, and per target the SCIM
-- attribute mappings ("path = expression [create]", one a line; "" keeps the built-in ones).
ALTER TABLE users ADD COLUMN department TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN cost_center TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN location TEXT NOT NULL DEFAULT '';
ALTER TABLE scim_targets ADD COLUMN mappings TEXT NOT NULL DEFAULT '';
