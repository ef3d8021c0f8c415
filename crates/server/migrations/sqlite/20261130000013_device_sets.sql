-- A full sync writes the hierarchy's devices anew, as a new device set that reads do not see,
-- a slice at a time, and then makes it the visible one in one short transaction; the old set is
-- deleted afterwards, a slice at a time, as an offboarded hierarchy's devices are. So a device's
-- id is no longer unique in the table: it has a row in each set while a sync completes. Reads see
-- a connector's `device_set`; the others are listed in `hidden_device_sets`.
ALTER TABLE connectors ADD COLUMN device_set INTEGER NOT NULL DEFAULT 0;
-- How many devices its shown set has, and (below) how many each hidden set has: a list reads them
-- to tell whether walking an order's index would mostly skip hidden rows.
ALTER TABLE connectors ADD COLUMN shown_devices INTEGER NOT NULL DEFAULT 0;
UPDATE connectors SET shown_devices = (SELECT COUNT(*) FROM devices d WHERE d.connector_id = connectors.id);

CREATE TABLE hidden_device_sets (
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    device_set      INTEGER NOT NULL,
    -- 'pending': a sync's completion is writing it; 'dying': replaced or abandoned, its devices
    -- are being deleted.
    state           TEXT NOT NULL CHECK (state IN ('pending', 'dying')),
    devices         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connector_id, device_set)
) STRICT, WITHOUT ROWID;

-- Counts of devices are kept until the devices change (`devices_generation`): a connector that
-- shows another set changes them.
CREATE TRIGGER devices_generation_device_set AFTER UPDATE OF device_set ON connectors
BEGIN
    UPDATE devices_generation SET generation = generation + 1 WHERE id = 1;
END;

-- The table again, without the primary key on `id` (rowids kept: the search index refers to them).
DROP TRIGGER devices_search_insert;
DROP TRIGGER devices_search_delete;
DROP TRIGGER devices_search_update;
DROP TRIGGER devices_generation_insert;
DROP TRIGGER devices_generation_update;
DROP TRIGGER devices_generation_delete;
CREATE TABLE devices_next (
    id                          TEXT NOT NULL,
    connector_id                TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    device_name                 TEXT NOT NULL,
    managed_by                  TEXT NOT NULL,
    owner_type                  TEXT NOT NULL,
    compliance_state            TEXT NOT NULL,
    operating_system            TEXT,
    os_version                  TEXT,
    user_principal_name         TEXT,
    user_display_name           TEXT,
    last_sync_at                TEXT,
    enrolled_at                 TEXT,
    serial_number               TEXT,
    manufacturer                TEXT,
    model                       TEXT,
    azure_ad_device_id          TEXT,
    domain_name                 TEXT,
    sku                         TEXT,
    client_identifier           TEXT,
    client_version              TEXT,
    client_is_blocked           INTEGER,
    client_health_state         TEXT NOT NULL,
    last_policy_request_at      TEXT,
    last_active_at              TEXT,
    collections                 TEXT NOT NULL DEFAULT '[]',  -- JSON [{id, name}]
    hierarchy_name              TEXT,
    site_code                   TEXT,
    device_set                  INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO devices_next (rowid, id, connector_id, device_name, managed_by, owner_type, compliance_state, operating_system, os_version, user_principal_name, user_display_name, last_sync_at, enrolled_at, serial_number, manufacturer, model, azure_ad_device_id, domain_name, sku, client_identifier, client_version, client_is_blocked, client_health_state, last_policy_request_at, last_active_at, collections, hierarchy_name, site_code)
    SELECT rowid, id, connector_id, device_name, managed_by, owner_type, compliance_state, operating_system, os_version, user_principal_name, user_display_name, last_sync_at, enrolled_at, serial_number, manufacturer, model, azure_ad_device_id, domain_name, sku, client_identifier, client_version, client_is_blocked, client_health_state, last_policy_request_at, last_active_at, collections, hierarchy_name, site_code FROM devices;
DROP TABLE devices;
ALTER TABLE devices_next RENAME TO devices;

-- A device by id (a row in each of its connector's sets), and a connector's set of devices.
CREATE UNIQUE INDEX devices_by_id ON devices (id, connector_id, device_set);
CREATE INDEX devices_by_connector ON devices (connector_id, device_set);
CREATE INDEX devices_by_name ON devices (device_name COLLATE NOCASE);
CREATE INDEX devices_by_managed_by ON devices (managed_by COLLATE NOCASE);
CREATE INDEX devices_by_owner_type ON devices (owner_type COLLATE NOCASE);
CREATE INDEX devices_by_compliance_state ON devices (compliance_state COLLATE NOCASE);
CREATE INDEX devices_by_operating_system ON devices (operating_system COLLATE NOCASE);
CREATE INDEX devices_by_os_version ON devices (os_version COLLATE NOCASE);
CREATE INDEX devices_by_user_principal_name ON devices (user_principal_name COLLATE NOCASE);
CREATE INDEX devices_by_user_display_name ON devices (user_display_name COLLATE NOCASE);
CREATE INDEX devices_by_last_sync_at ON devices (last_sync_at);
CREATE INDEX devices_by_enrolled_at ON devices (enrolled_at);
CREATE INDEX devices_by_serial_number ON devices (serial_number COLLATE NOCASE);
CREATE INDEX devices_by_manufacturer ON devices (manufacturer COLLATE NOCASE);
CREATE INDEX devices_by_model ON devices (model COLLATE NOCASE);
CREATE INDEX devices_by_azure_ad_device_id ON devices (azure_ad_device_id COLLATE NOCASE);
CREATE INDEX devices_by_domain_name ON devices (domain_name COLLATE NOCASE);
CREATE INDEX devices_by_sku ON devices (sku COLLATE NOCASE);
CREATE INDEX devices_by_hierarchy_name ON devices (hierarchy_name COLLATE NOCASE);
CREATE INDEX devices_by_site_code ON devices (site_code COLLATE NOCASE);
CREATE INDEX devices_by_client_version ON devices (client_version COLLATE NOCASE);
CREATE INDEX devices_by_client_health_state ON devices (client_health_state COLLATE NOCASE);
CREATE INDEX devices_by_last_policy_request_at ON devices (last_policy_request_at);
CREATE INDEX devices_by_last_active_at ON devices (last_active_at);
CREATE INDEX devices_by_hierarchy_and_name ON devices (hierarchy_name, device_name COLLATE NOCASE);
CREATE INDEX devices_by_operating_system_and_name ON devices (operating_system, device_name COLLATE NOCASE);

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

