-- Local accounts. Only an argon2id hash (PHC string) of the password is kept.
CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    user_name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

-- Roles: the three built in, and custom ones. Permissions are the contract's names, space-separated.
CREATE TABLE role_definitions (
    id              TEXT PRIMARY KEY NOT NULL,
    display_name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description     TEXT NOT NULL,
    is_built_in     INTEGER NOT NULL,
    permissions     TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

INSERT INTO role_definitions (id, display_name, description, is_built_in, permissions, created_at) VALUES
    ('intune-administrator', 'Intune Administrator',
     'Everything: devices, remote tasks, connectors and onboarding, offboarding, audit logs, roles.', 1,
     'managedDevices.read remoteTasks.configurationManagerAction organization.read organization.update organization.delete auditData.read',
     '2026-11-21T00:00:00Z'),
    ('help-desk-operator', 'Help Desk Operator',
     'Reads devices, connectors and audit logs, and runs ConfigMgr actions on devices.', 1,
     'managedDevices.read remoteTasks.configurationManagerAction organization.read auditData.read',
     '2026-11-21T00:00:00Z'),
    ('read-only-operator', 'Read Only Operator',
     'Reads devices, connectors and audit logs; changes nothing.', 1,
     'managedDevices.read organization.read auditData.read',
     '2026-11-21T00:00:00Z');

CREATE TABLE user_roles (
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id         TEXT NOT NULL REFERENCES role_definitions(id),
    PRIMARY KEY (user_id, role_id)
) STRICT;

-- Sessions: the cookie holds a random token; only its SHA-256 is kept.
CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- The audit log: appended in the same transaction as the change it records, never changed.
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    at              TEXT NOT NULL,
    activity        TEXT NOT NULL,
    result          TEXT NOT NULL,
    actor_type      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT,
    resource_name   TEXT,
    details         TEXT,
    request_id      TEXT
) STRICT;
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_activity ON audit_events (activity, seq);
CREATE INDEX audit_events_by_resource ON audit_events (resource_id, seq);
CREATE INDEX audit_events_by_time ON audit_events (at, seq);

CREATE TRIGGER audit_events_are_not_changed BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_events_are_not_deleted BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
