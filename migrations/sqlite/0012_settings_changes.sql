-- A change to the settings (the MFA policy) moves the change counter too (SQLite), so that a
-- server keeps them in memory and sees a change made by the CLI or another replica within
-- a second (store::mfa::cached_setting).
CREATE TRIGGER settings_changed_ins AFTER INSERT ON settings BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER settings_changed_upd AFTER UPDATE ON settings BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER settings_changed_del AFTER DELETE ON settings BEGIN UPDATE change_counter SET n = n + 1; END;
