-- A connector marked removed takes its devices out of every list and count at once (they are
-- deleted later, a slice at a time): the devices' generation moves with it, so that no count kept
-- for the generation before, by this instance or another, still counts them.
CREATE TRIGGER devices_generation_connector_removed AFTER UPDATE OF removed_at ON connectors
    FOR EACH STATEMENT EXECUTE FUNCTION devices_generation_moves();
