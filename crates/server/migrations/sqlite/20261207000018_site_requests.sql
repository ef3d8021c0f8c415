-- Site requests (issue 36): what the device pages read live from a device's site, and the CMPivot
-- queries and scripts they run on it. Kept for a short while after they end (the sweeper deletes
-- them); the answer is the site's JSON, bounded by the protocol.
CREATE TABLE site_requests (
    id                  TEXT PRIMARY KEY NOT NULL,
    seq                 INTEGER NOT NULL UNIQUE,     -- delivery order
    device_id           TEXT NOT NULL,
    connector_id        TEXT NOT NULL,
    kind                TEXT NOT NULL,
    state               TEXT NOT NULL,
    requested_by        TEXT NOT NULL,
    requested_at        TEXT NOT NULL,
    last_updated_at     TEXT NOT NULL,
    query               TEXT,
    script_id           TEXT,
    failure_message     TEXT,
    requester_at_site   TEXT,
    answer              TEXT
) STRICT;
CREATE INDEX site_requests_open ON site_requests (connector_id, state, seq)
    WHERE state IN ('queued', 'running');
CREATE INDEX site_requests_open_by_user ON site_requests (requested_by)
    WHERE state IN ('queued', 'running');
CREATE INDEX site_requests_by_device ON site_requests (device_id, kind, seq);
CREATE INDEX site_requests_by_age ON site_requests (last_updated_at);

-- Each user's recent CMPivot queries, for running again (a few per user).
CREATE TABLE cmpivot_queries (
    user_name           TEXT NOT NULL,
    query               TEXT NOT NULL,
    last_run_at         TEXT NOT NULL,
    PRIMARY KEY (user_name, query)
) STRICT;

-- Remote tasks › Run CMPivot query and › Run script: Intune Administrator holds both, Help Desk
-- Operator CMPivot only.
UPDATE role_definitions
   SET permissions = permissions || ' remoteTasks.runCMPivot remoteTasks.runScript'
 WHERE id = 'intune-administrator';
UPDATE role_definitions
   SET permissions = permissions || ' remoteTasks.runCMPivot',
       description = 'Reads devices, connectors and audit logs, runs ConfigMgr actions and CMPivot queries on devices.'
 WHERE id = 'help-desk-operator';
