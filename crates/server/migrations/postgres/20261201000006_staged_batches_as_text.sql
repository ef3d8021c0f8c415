-- A staged batch is kept as the text the server validated and wrote: parsing it into jsonb cost a
-- parse under the devices' write lock on every batch and a conversion back to text when it was
-- read, and nothing reads its fields in place but the completion's check for repeated ids.
ALTER TABLE sync_batches ALTER COLUMN devices TYPE text USING CAST(devices AS text);
