-- Issue 37, saved views of All devices: a user's own, or shared with everyone in the tenant. The
-- query is the view's JSON (admin_api::views::DeviceViewQuery), checked like a query before it is
-- stored and again when it is read.
CREATE TABLE device_views (
    id                  text COLLATE "C" PRIMARY KEY,
    owner_id            text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    owner_name          text COLLATE "C" NOT NULL,
    name                text COLLATE "C" NOT NULL,
    shared              boolean NOT NULL,
    query               text COLLATE "C" NOT NULL,
    created_at          text COLLATE "C" NOT NULL,
    updated_at          text COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX device_views_name_per_owner ON device_views (owner_id, name);
CREATE INDEX device_views_shared ON device_views (shared) WHERE shared;

UPDATE role_definitions
   SET permissions = permissions || ' managedDevices.shareViews'
 WHERE id = 'intune-administrator';
