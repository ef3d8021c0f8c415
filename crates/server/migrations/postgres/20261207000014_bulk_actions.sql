-- Issue 37, bulk actions: one ConfigMgr action on every device a filter matches, as a job. Each
-- device's action is a row of device_actions that names its job; the job keeps what was asked and
-- how many devices matched when it started.
CREATE TABLE bulk_actions (
    id                  text COLLATE "C" PRIMARY KEY,
    requested_by        text COLLATE "C" NOT NULL,
    action              text COLLATE "C" NOT NULL,
    search              text COLLATE "C",
    filter              text COLLATE "C",
    all_devices         boolean NOT NULL,
    confirmed_count     bigint NOT NULL,
    matched_count       bigint NOT NULL,
    already_open_count  bigint NOT NULL,
    state               text COLLATE "C" NOT NULL,
    requested_at        text COLLATE "C" NOT NULL,
    last_updated_at     text COLLATE "C" NOT NULL,
    -- The counts last announced on the event stream, so that an unchanged job is not announced.
    announced           text COLLATE "C"
);
CREATE INDEX bulk_actions_running ON bulk_actions (requested_by) WHERE state = 'running';

ALTER TABLE device_actions ADD COLUMN bulk_id text COLLATE "C";
CREATE INDEX device_actions_by_bulk ON device_actions (bulk_id, connector_id, action_state)
    WHERE bulk_id IS NOT NULL;
