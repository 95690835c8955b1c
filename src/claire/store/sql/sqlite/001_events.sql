-- The seed's events table for SQLite: same column names as PostgreSQL.
-- UUIDs are lowercase text, metadata/payload JSON text (json_extract works), timestamps are
-- canonical UTC text (lexical order = time order). `canonical` holds the exact hashed bytes.
CREATE TABLE IF NOT EXISTS events (
    event_id          TEXT PRIMARY KEY,
    event_type        TEXT NOT NULL,
    sequence_number   INTEGER UNIQUE NOT NULL,
    timestamp_utc     TEXT NOT NULL,
    timestamp_logical INTEGER NOT NULL,
    causation_id      TEXT REFERENCES events(event_id),
    correlation_id    TEXT NOT NULL,
    metadata          TEXT NOT NULL CHECK (json_valid(metadata)),
    payload           TEXT NOT NULL CHECK (json_valid(payload)),
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    canonical         BLOB NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_events_correlation_id ON events(correlation_id);
CREATE INDEX IF NOT EXISTS idx_events_causation_id ON events(causation_id);
CREATE INDEX IF NOT EXISTS idx_events_timestamp_utc ON events(timestamp_utc);
CREATE INDEX IF NOT EXISTS idx_events_type_time ON events(event_type, timestamp_utc);
CREATE INDEX IF NOT EXISTS idx_events_snapshot_at
    ON events(CAST(json_extract(payload, '$.at_sequence') AS INTEGER))
    WHERE event_type = 'state_snapshot';

CREATE TRIGGER IF NOT EXISTS events_immutable_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;

CREATE TRIGGER IF NOT EXISTS events_immutable_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;
