-- An app's SSO can be switched off on its own (its tile goes, SSO is refused; provisioning
-- is unaffected), and an app may have an uploaded logo (PNG or SVG, size-capped).
ALTER TABLE apps ADD COLUMN sso_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN logo_type TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN logo BLOB;
