-- Issue 37, bulk actions: one ConfigMgr action on every device a filter matches, as a job. Each
-- device's action is a row of device_actions that names its job; the job keeps what was asked and
-- how many devices matched when it started.
CREATE TABLE bulk_actions (
    id                  TEXT PRIMARY KEY NOT NULL,
    requested_by        TEXT NOT NULL,
    action              TEXT NOT NULL,
    search              TEXT,
    filter              TEXT,
    all_devices         INTEGER NOT NULL,
    confirmed_count     INTEGER NOT NULL,
    matched_count       INTEGER NOT NULL,
    already_open_count  INTEGER NOT NULL,
    state               TEXT NOT NULL,
    requested_at        TEXT NOT NULL,
    last_updated_at     TEXT NOT NULL,
    -- The counts last announced on the event stream, so that an unchanged job is not announced.
    announced           TEXT
) STRICT;
CREATE INDEX bulk_actions_running ON bulk_actions (requested_by) WHERE state = 'running';

ALTER TABLE device_actions ADD COLUMN bulk_id TEXT;
CREATE INDEX device_actions_by_bulk ON device_actions (bulk_id, connector_id, action_state)
    WHERE bulk_id IS NOT NULL;
