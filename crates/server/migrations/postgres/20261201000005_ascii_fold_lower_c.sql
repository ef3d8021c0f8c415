-- ascii_fold() (SQLite's NOCASE: A-Z folded, nothing else) as lower() under the "C" collation,
-- which folds exactly those letters, byte by byte. translate() gave the same text but cost about
-- 8 µs a call in a UTF-8 database, and every device written computes it for twenty-two indexes:
-- most of an upload's time (5,000 devices: 798 ms with translate(), see docs/performance.md).
-- Every input folds to the same text as before, so the indexes built on it stay valid as they are.
CREATE OR REPLACE FUNCTION ascii_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT lower(value COLLATE "C") $$;
