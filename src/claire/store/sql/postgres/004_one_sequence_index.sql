-- The UNIQUE constraint on sequence_number already keeps a B-tree index on the column
-- (events_sequence_number_key). The seed's idx_events_sequence duplicated it: the same entries
-- written twice on every append and stored twice, with nothing it could answer that the unique
-- index does not. Keep the constraint (it also refuses a duplicate sequence number) and drop the
-- copy, on new and existing stores alike.
DROP INDEX IF EXISTS idx_events_sequence;
