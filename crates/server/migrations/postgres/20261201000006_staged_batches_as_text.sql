-- A staged batch is kept as the text the server validated and wrote: parsing it into jsonb cost a
-- parse under the devices' write lock on every batch (about 90 ms for 5,000 devices) and a
-- conversion back to text when it was read, and nothing reads its fields in place. Not
-- compressed either: a batch lives until its sync completes, and compressing it would cost its
-- insert the time the parse did.
ALTER TABLE sync_batches ALTER COLUMN devices TYPE text USING CAST(devices AS text);
ALTER TABLE sync_batches ALTER COLUMN devices SET STORAGE EXTERNAL;
