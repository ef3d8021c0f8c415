-- Ties in every order are broken by the device's rowid, the order in which devices were first
-- stored (an upload numbers its new devices in the order it sends them), not by id. A sort index
-- ends with the rowid without naming it (every index of a rowid table does), so a new device
-- lands at the end of its value's run instead of somewhere inside it: a hierarchy's upload
-- appends to a few places of each index instead of touching pages all over it. The indexes are
-- smaller too (the id is no longer copied into each).
DROP INDEX devices_by_name;
CREATE INDEX devices_by_name ON devices (device_name COLLATE NOCASE);
DROP INDEX devices_by_managed_by;
CREATE INDEX devices_by_managed_by ON devices (managed_by COLLATE NOCASE);
DROP INDEX devices_by_owner_type;
CREATE INDEX devices_by_owner_type ON devices (owner_type COLLATE NOCASE);
DROP INDEX devices_by_compliance_state;
CREATE INDEX devices_by_compliance_state ON devices (compliance_state COLLATE NOCASE);
DROP INDEX devices_by_operating_system;
CREATE INDEX devices_by_operating_system ON devices (operating_system COLLATE NOCASE);
DROP INDEX devices_by_os_version;
CREATE INDEX devices_by_os_version ON devices (os_version COLLATE NOCASE);
DROP INDEX devices_by_user_principal_name;
CREATE INDEX devices_by_user_principal_name ON devices (user_principal_name COLLATE NOCASE);
DROP INDEX devices_by_user_display_name;
CREATE INDEX devices_by_user_display_name ON devices (user_display_name COLLATE NOCASE);
DROP INDEX devices_by_last_sync_at;
CREATE INDEX devices_by_last_sync_at ON devices (last_sync_at);
DROP INDEX devices_by_enrolled_at;
CREATE INDEX devices_by_enrolled_at ON devices (enrolled_at);
DROP INDEX devices_by_serial_number;
CREATE INDEX devices_by_serial_number ON devices (serial_number COLLATE NOCASE);
DROP INDEX devices_by_manufacturer;
CREATE INDEX devices_by_manufacturer ON devices (manufacturer COLLATE NOCASE);
DROP INDEX devices_by_model;
CREATE INDEX devices_by_model ON devices (model COLLATE NOCASE);
DROP INDEX devices_by_azure_ad_device_id;
CREATE INDEX devices_by_azure_ad_device_id ON devices (azure_ad_device_id COLLATE NOCASE);
DROP INDEX devices_by_domain_name;
CREATE INDEX devices_by_domain_name ON devices (domain_name COLLATE NOCASE);
DROP INDEX devices_by_sku;
CREATE INDEX devices_by_sku ON devices (sku COLLATE NOCASE);
DROP INDEX devices_by_hierarchy_name;
CREATE INDEX devices_by_hierarchy_name ON devices (hierarchy_name COLLATE NOCASE);
DROP INDEX devices_by_site_code;
CREATE INDEX devices_by_site_code ON devices (site_code COLLATE NOCASE);
DROP INDEX devices_by_client_version;
CREATE INDEX devices_by_client_version ON devices (client_version COLLATE NOCASE);
DROP INDEX devices_by_client_health_state;
CREATE INDEX devices_by_client_health_state ON devices (client_health_state COLLATE NOCASE);
DROP INDEX devices_by_last_policy_request_at;
CREATE INDEX devices_by_last_policy_request_at ON devices (last_policy_request_at);
DROP INDEX devices_by_last_active_at;
CREATE INDEX devices_by_last_active_at ON devices (last_active_at);
DROP INDEX devices_by_hierarchy_and_name;
CREATE INDEX devices_by_hierarchy_and_name ON devices (hierarchy_name, device_name COLLATE NOCASE);
DROP INDEX devices_by_operating_system_and_name;
CREATE INDEX devices_by_operating_system_and_name ON devices (operating_system, device_name COLLATE NOCASE);
