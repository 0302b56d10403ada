-- One counter that every change to an app's settings bumps, whoever makes it (this server,
-- the CLI in another process, another replica): servers keep those settings in memory and
-- reload them when the counter moves (store::Db::epoch).
CREATE TABLE change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO change_counter (id, n) VALUES (1, 0);

CREATE TRIGGER apps_changed_ins AFTER INSERT ON apps BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER apps_changed_upd AFTER UPDATE ON apps BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER apps_changed_del AFTER DELETE ON apps BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_sso_changed_ins AFTER INSERT ON app_sso BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_sso_changed_upd AFTER UPDATE ON app_sso BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_sso_changed_del AFTER DELETE ON app_sso BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_acs_changed_ins AFTER INSERT ON app_acs BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_acs_changed_upd AFTER UPDATE ON app_acs BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER app_acs_changed_del AFTER DELETE ON app_acs BEGIN UPDATE change_counter SET n = n + 1; END;
