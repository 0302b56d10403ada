-- Provisioning scope (issue 16): 'assigned' (who may use the app, the one access rule) or
-- 'all' (every active user); scoping filters in their canonical text (one clause a line,
-- "" keeps everyone); matching precedence, comma-separated SCIM attributes.
ALTER TABLE scim_targets ADD COLUMN scope TEXT NOT NULL DEFAULT 'assigned';
ALTER TABLE scim_targets ADD COLUMN filters TEXT NOT NULL DEFAULT '';
ALTER TABLE scim_targets ADD COLUMN matching TEXT NOT NULL DEFAULT 'userName';
