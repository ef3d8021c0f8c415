-- An offboarding completes at once: the connector is marked removed (the API no longer shows it or
-- its devices, its credential is gone) and its devices are deleted afterwards in small slices, so
-- that removing a large hierarchy never holds the writer for long. The row goes with the last slice.
ALTER TABLE connectors ADD COLUMN removed_at TEXT;
