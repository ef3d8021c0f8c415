-- Issue 37, saved views of All devices: a user's own, or shared with everyone in the tenant. The
-- query is the view's JSON (admin_api::views::DeviceViewQuery), checked like a query before it is
-- stored and again when it is read.
CREATE TABLE device_views (
    id                  TEXT PRIMARY KEY NOT NULL,
    owner_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    owner_name          TEXT NOT NULL,
    name                TEXT NOT NULL,
    shared              INTEGER NOT NULL,
    query               TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX device_views_name_per_owner ON device_views (owner_id, name);
CREATE INDEX device_views_shared ON device_views (shared) WHERE shared = 1;

UPDATE role_definitions
   SET permissions = permissions || ' managedDevices.shareViews'
 WHERE id = 'intune-administrator';
