-- The seed's events table, with the global sequence assigned by the store (no serial default:
-- appends take an advisory transaction lock, read the head and number the batch gaplessly, in
-- commit order) and the hash chain: hash = SHA-256(prev_hash || canonical), where `canonical`
-- keeps the exact bytes that were hashed. Readers decode `canonical` only; the JSONB columns are
-- there for SQL (psql, the audit functions, indexes).
CREATE TABLE events (
    event_id          UUID PRIMARY KEY,
    event_type        VARCHAR(50) NOT NULL,
    sequence_number   BIGINT UNIQUE NOT NULL,
    timestamp_utc     TIMESTAMP WITH TIME ZONE NOT NULL,
    timestamp_logical BIGINT NOT NULL,
    causation_id      UUID REFERENCES events(event_id),
    correlation_id    UUID NOT NULL,
    metadata          JSONB NOT NULL,
    payload           JSONB NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    canonical         BYTEA NOT NULL
);

-- The seed's indexes.
CREATE INDEX idx_events_sequence ON events(sequence_number);
CREATE INDEX idx_events_correlation_id ON events(correlation_id);
CREATE INDEX idx_events_causation_id ON events(causation_id);
-- Time windows (read by time, statistics) and the nearest snapshot at or below a sequence.
CREATE INDEX idx_events_timestamp_utc ON events(timestamp_utc);
CREATE INDEX idx_events_snapshot_at ON events(((payload->>'at_sequence')::bigint))
    WHERE event_type = 'state_snapshot';

-- Immutability, enforced by the database whoever writes.
CREATE FUNCTION prevent_event_modification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Events are immutable'
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new event instead of changing or removing a stored one.';
END;
$$;

CREATE TRIGGER events_immutable_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION prevent_event_modification();
CREATE TRIGGER events_immutable_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION prevent_event_modification();
CREATE TRIGGER events_immutable_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION prevent_event_modification();

-- ENABLE ALWAYS: the triggers fire even with session_replication_role = replica.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_update;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_truncate;
