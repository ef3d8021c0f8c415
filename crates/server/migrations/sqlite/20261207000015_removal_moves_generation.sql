-- A connector marked removed takes its devices out of every list and count at once (they are
-- deleted later, a slice at a time): the devices' generation moves with it, so that no count kept
-- for the generation before still counts them.
CREATE TRIGGER devices_generation_connector_removed AFTER UPDATE OF removed_at ON connectors
WHEN OLD.removed_at IS NOT NEW.removed_at
BEGIN
    UPDATE devices_generation SET generation = generation + 1 WHERE id = 1;
END;
