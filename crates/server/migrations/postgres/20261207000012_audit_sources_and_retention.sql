-- Issue 37, an audit log for auditors: each event records the network address and the user agent
-- of the request that did it; events older than the retention are removed by the server's
-- background work, and by nothing else.
ALTER TABLE audit_events ADD COLUMN source_address text COLLATE "C";
ALTER TABLE audit_events ADD COLUMN user_agent text COLLATE "C";

-- The retention's cutoff, written only inside the transaction that removes a slice of events
-- (and deleted before it commits): the delete trigger lets through just the events older than it.
CREATE TABLE audit_retention_cutoff (
    before          text COLLATE "C" NOT NULL
);

CREATE OR REPLACE FUNCTION audit_events_are_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM audit_retention_cutoff c WHERE OLD.at < c.before) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
