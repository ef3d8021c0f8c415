-- `$search` looks for a substring of the device name, serial number or UPN. A trigram index answers
-- that without reading every device; it holds only the index (the text stays in `devices`) and
-- triggers keep it in step with every insert, change and removal.
CREATE VIRTUAL TABLE devices_search USING fts5(
    device_name, serial_number, user_principal_name,
    content = 'devices', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO devices_search (devices_search) VALUES ('rebuild');

CREATE TRIGGER devices_search_insert AFTER INSERT ON devices
BEGIN
    INSERT INTO devices_search (rowid, device_name, serial_number, user_principal_name)
    VALUES (new.rowid, new.device_name, new.serial_number, new.user_principal_name);
END;

CREATE TRIGGER devices_search_delete AFTER DELETE ON devices
BEGIN
    INSERT INTO devices_search (devices_search, rowid, device_name, serial_number, user_principal_name)
    VALUES ('delete', old.rowid, old.device_name, old.serial_number, old.user_principal_name);
END;

CREATE TRIGGER devices_search_update AFTER UPDATE OF device_name, serial_number, user_principal_name
ON devices
WHEN old.device_name IS NOT new.device_name OR old.serial_number IS NOT new.serial_number
    OR old.user_principal_name IS NOT new.user_principal_name
BEGIN
    INSERT INTO devices_search (devices_search, rowid, device_name, serial_number, user_principal_name)
    VALUES ('delete', old.rowid, old.device_name, old.serial_number, old.user_principal_name);
    INSERT INTO devices_search (rowid, device_name, serial_number, user_principal_name)
    VALUES (new.rowid, new.device_name, new.serial_number, new.user_principal_name);
END;

-- A number that moves on every change to the devices, so that a count of the devices matching a
-- query can be kept until the devices change (see `Store::count_devices`).
CREATE TABLE devices_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
) STRICT;
INSERT INTO devices_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER devices_generation_insert AFTER INSERT ON devices
BEGIN
    UPDATE devices_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER devices_generation_update AFTER UPDATE ON devices
BEGIN
    UPDATE devices_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER devices_generation_delete AFTER DELETE ON devices
BEGIN
    UPDATE devices_generation SET generation = generation + 1 WHERE id = 1;
END;

-- The Filter panel's hierarchy filter in the default order: a hierarchy's devices are one run of
-- this index, already in name order (device names often start with the site code, so the name
-- index alone walks the other hierarchies first).
CREATE INDEX devices_by_hierarchy_and_name ON devices (hierarchy_name, device_name COLLATE NOCASE, id);
