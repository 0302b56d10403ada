-- Events by name: the console's filter list of event names, and filtering by name.
CREATE INDEX events_name ON events(name, id);
