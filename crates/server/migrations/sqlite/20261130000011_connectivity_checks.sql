-- The connectivity checks a site's connector last reported with its site information (JSON, as
-- the contract's list of ConnectivityCheck); NULL when it never reported any.
ALTER TABLE connectors ADD COLUMN connectivity_checks TEXT;
