-- A sync id is the connector's own: staged batches and completed syncs are keyed by connector, so
-- that one connector can neither write into another's staged full sync nor take a sync id that
-- another will use.
CREATE TABLE sync_batches_new (
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    sync_id         TEXT NOT NULL,
    batch_index     INTEGER NOT NULL,
    devices         TEXT NOT NULL,           -- JSON array of the protocol's SiteDevice
    received_at     TEXT NOT NULL,
    PRIMARY KEY (connector_id, sync_id, batch_index)
) STRICT;
INSERT INTO sync_batches_new (connector_id, sync_id, batch_index, devices, received_at)
    SELECT connector_id, sync_id, batch_index, devices, received_at FROM sync_batches;
DROP TABLE sync_batches;
ALTER TABLE sync_batches_new RENAME TO sync_batches;

CREATE TABLE syncs_new (
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,           -- full | delta
    completed_at    TEXT NOT NULL,
    device_count    INTEGER NOT NULL,
    changed         INTEGER NOT NULL,
    PRIMARY KEY (connector_id, id)
) STRICT;
INSERT INTO syncs_new (connector_id, id, kind, completed_at, device_count, changed)
    SELECT connector_id, id, kind, completed_at, device_count, changed FROM syncs;
DROP TABLE syncs;
ALTER TABLE syncs_new RENAME TO syncs;
