-- A device's actions list in request order (seq), not by timestamp: several requests share a second.
DROP INDEX device_actions_by_device;
CREATE INDEX device_actions_by_device ON device_actions (device_id, seq);
