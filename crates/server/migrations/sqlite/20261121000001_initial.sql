-- Connectors: one per attached Configuration Manager hierarchy.
CREATE TABLE connectors (
    id                          TEXT PRIMARY KEY NOT NULL,
    hierarchy_id                TEXT NOT NULL,
    hierarchy_name              TEXT,
    site_code                   TEXT,
    site_version                TEXT,
    service_connection_point    TEXT,
    cloud                       TEXT,
    upload_scope                TEXT,          -- JSON, the contract's uploadScope
    endpoint_analytics_enabled  INTEGER,
    last_sync_at                TEXT,          -- RFC 3339 UTC, fixed width: sorts as text
    last_heartbeat_at           TEXT,
    onboarded_at                TEXT NOT NULL,
    offboard_requested_at       TEXT
) STRICT;

-- Devices as their site uploaded them. Timestamps are RFC 3339 UTC text of fixed width.
CREATE TABLE devices (
    id                          TEXT PRIMARY KEY NOT NULL,
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
    collections                 TEXT NOT NULL DEFAULT '[]'  -- JSON [{id, name}]
) STRICT;

CREATE INDEX devices_by_connector ON devices (connector_id);
-- Serves the default order (deviceName asc, ties by id) and its keyset paging.
CREATE INDEX devices_by_name ON devices (device_name COLLATE NOCASE, id);
