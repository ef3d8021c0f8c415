-- The connector protocol: onboarding tokens, connector credentials, uploads and device actions.

-- One-time tokens a tenant admin creates for a new site. Only their SHA-256 is kept.
CREATE TABLE onboarding_tokens (
    token_hash      BLOB PRIMARY KEY NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    connector_id    TEXT
) STRICT;

-- The connector's credential (SHA-256 of its secret); NULL once revoked.
ALTER TABLE connectors ADD COLUMN credential_hash BLOB;
-- Set once the site sent its information (PUT /site); a site that never did is `unknown`.
ALTER TABLE connectors ADD COLUMN site_reported_at TEXT;

-- Every sync a connector completed, so that a re-sent delta or completion is applied once.
CREATE TABLE syncs (
    id              TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,           -- full | delta
    completed_at    TEXT NOT NULL,
    device_count    INTEGER NOT NULL,
    changed         INTEGER NOT NULL
) STRICT;

-- Batches of a full sync in progress: invisible until the sync completes.
CREATE TABLE sync_batches (
    sync_id         TEXT NOT NULL,
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    batch_index     INTEGER NOT NULL,
    devices         TEXT NOT NULL,           -- JSON array of the protocol's SiteDevice
    received_at     TEXT NOT NULL,
    PRIMARY KEY (sync_id, batch_index)
) STRICT;
CREATE INDEX sync_batches_by_connector ON sync_batches (connector_id);

CREATE TABLE device_actions (
    id                  TEXT PRIMARY KEY NOT NULL,
    seq                 INTEGER NOT NULL UNIQUE,     -- delivery order
    device_id           TEXT NOT NULL,               -- kept after the device is gone
    connector_id        TEXT NOT NULL,
    action              TEXT NOT NULL,
    action_state        TEXT NOT NULL,
    requested_by        TEXT NOT NULL,
    requested_at        TEXT NOT NULL,
    last_updated_at     TEXT NOT NULL,
    result_code         INTEGER,
    result_message      TEXT,
    idempotency_key     TEXT
) STRICT;
CREATE INDEX device_actions_by_device ON device_actions (device_id, requested_at DESC, id);
CREATE INDEX device_actions_open ON device_actions (connector_id, action_state, seq)
    WHERE action_state IN ('pending', 'active');
CREATE UNIQUE INDEX device_actions_by_idempotency_key ON device_actions (device_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
