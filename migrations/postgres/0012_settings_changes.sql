-- A change to the settings (the MFA policy) moves the change counter too (PostgreSQL), so
-- that a server keeps them in memory and sees a change made by the CLI or another replica
-- within a second (store::mfa::cached_setting).
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
  FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
