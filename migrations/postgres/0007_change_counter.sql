-- One counter that every change to an app's settings bumps, whoever makes it (this server,
-- the CLI, another replica): servers keep those settings in memory and reload them when the
-- counter moves (store::Db::epoch).
CREATE TABLE change_counter (id BIGINT PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO change_counter (id, n) VALUES (1, 0);

CREATE FUNCTION bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE change_counter SET n = n + 1;
  RETURN NULL;
END;
$$;

CREATE TRIGGER apps_changed AFTER INSERT OR UPDATE OR DELETE ON apps
  FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER app_sso_changed AFTER INSERT OR UPDATE OR DELETE ON app_sso
  FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER app_acs_changed AFTER INSERT OR UPDATE OR DELETE ON app_acs
  FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
