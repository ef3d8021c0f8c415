-- One hierarchy's devices in last check-in order. A full sync stamps all of a hierarchy's devices
-- with the same check-in time, so that order's own index holds the hierarchy after hierarchy, and a
-- filter on one hierarchy (alone or with others) walked it past every device of the hierarchies
-- synced later: 230–250 ms at 1M for one first page, where this index answers in a few ms. Filters on
-- a hierarchy and this order are how an operator finds a site's devices that stopped checking in.
CREATE INDEX devices_by_hierarchy_and_last_sync ON devices (hierarchy_name, last_sync_at NULLS FIRST, seq);
