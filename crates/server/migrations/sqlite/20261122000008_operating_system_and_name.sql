-- The Filter panel's operating system filter in the default order. Device names carry the model's
-- prefix (servers are "...-SRV-..."), so the servers sit in a few runs of the name index and
-- walking it from the start passes most workstations first (120 ms at 1M); sorting all servers
-- by name is no faster. In this index they are one run, already in name order.
CREATE INDEX devices_by_operating_system_and_name
    ON devices (operating_system, device_name COLLATE NOCASE, id);
