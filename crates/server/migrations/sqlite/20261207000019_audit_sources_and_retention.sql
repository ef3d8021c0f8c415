-- Issue 37, an audit log for auditors: each event records the network address and the user agent
-- of the request that did it; events older than the retention are removed by the server's
-- background work, and by nothing else.
ALTER TABLE audit_events ADD COLUMN source_address TEXT;
ALTER TABLE audit_events ADD COLUMN user_agent TEXT;

-- The retention's cutoff, written only inside the transaction that removes a slice of events
-- (and deleted before it commits): the delete trigger lets through just the events older than it.
CREATE TABLE audit_retention_cutoff (
    before          TEXT NOT NULL
) STRICT;

DROP TRIGGER audit_events_are_not_deleted;
CREATE TRIGGER audit_events_are_not_deleted BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_retention_cutoff c WHERE OLD.at < c.before)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
