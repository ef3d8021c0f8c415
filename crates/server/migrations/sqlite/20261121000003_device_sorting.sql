-- Every column of All devices sorts through an index of its own, ties broken by id. The hierarchy's
-- name and site code are copied onto its devices so that they sort like the rest.
ALTER TABLE devices ADD COLUMN hierarchy_name TEXT;
ALTER TABLE devices ADD COLUMN site_code TEXT;
UPDATE devices SET
    hierarchy_name = (SELECT c.hierarchy_name FROM connectors c WHERE c.id = devices.connector_id),
    site_code = (SELECT c.site_code FROM connectors c WHERE c.id = devices.connector_id);

CREATE INDEX devices_by_managed_by ON devices (managed_by COLLATE NOCASE, id);
CREATE INDEX devices_by_owner_type ON devices (owner_type COLLATE NOCASE, id);
CREATE INDEX devices_by_compliance_state ON devices (compliance_state COLLATE NOCASE, id);
CREATE INDEX devices_by_operating_system ON devices (operating_system COLLATE NOCASE, id);
CREATE INDEX devices_by_os_version ON devices (os_version COLLATE NOCASE, id);
CREATE INDEX devices_by_user_principal_name ON devices (user_principal_name COLLATE NOCASE, id);
CREATE INDEX devices_by_user_display_name ON devices (user_display_name COLLATE NOCASE, id);
CREATE INDEX devices_by_last_sync_at ON devices (last_sync_at, id);
CREATE INDEX devices_by_enrolled_at ON devices (enrolled_at, id);
CREATE INDEX devices_by_serial_number ON devices (serial_number COLLATE NOCASE, id);
CREATE INDEX devices_by_manufacturer ON devices (manufacturer COLLATE NOCASE, id);
CREATE INDEX devices_by_model ON devices (model COLLATE NOCASE, id);
CREATE INDEX devices_by_azure_ad_device_id ON devices (azure_ad_device_id COLLATE NOCASE, id);
CREATE INDEX devices_by_domain_name ON devices (domain_name COLLATE NOCASE, id);
CREATE INDEX devices_by_sku ON devices (sku COLLATE NOCASE, id);
CREATE INDEX devices_by_hierarchy_name ON devices (hierarchy_name COLLATE NOCASE, id);
CREATE INDEX devices_by_site_code ON devices (site_code COLLATE NOCASE, id);
CREATE INDEX devices_by_client_version ON devices (client_version COLLATE NOCASE, id);
CREATE INDEX devices_by_client_health_state ON devices (client_health_state COLLATE NOCASE, id);
CREATE INDEX devices_by_last_policy_request_at ON devices (last_policy_request_at, id);
CREATE INDEX devices_by_last_active_at ON devices (last_active_at, id);
