-- Pruning (issue 14, `claire archive prune`, docs/archive.md): the oldest events may leave the
-- hot store once the archive holds them, verified byte for byte. What must outlive them here:
-- 1. every event id ever stored (event_ids, never pruned): an id that lives only in the archive
--    is still refused as a duplicate, and a cause in the archive still satisfies causation_id;
-- 2. how far the store was pruned and the hash there (claire_pruned), so a reader that has no
--    archive configured is refused instead of shown a log that starts in the middle.
-- causation_id now references event_ids: SQLite changes a foreign key only by rebuilding the
-- table, so events is copied into its new form, with its indexes and triggers as before.
CREATE TABLE event_ids (
    event_id        TEXT PRIMARY KEY,
    sequence_number INTEGER UNIQUE NOT NULL
);
INSERT INTO event_ids (event_id, sequence_number) SELECT event_id, sequence_number FROM events;

CREATE TRIGGER event_ids_immutable_update BEFORE UPDATE ON event_ids
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;

CREATE TRIGGER event_ids_immutable_delete BEFORE DELETE ON event_ids
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;

CREATE TABLE claire_pruned (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    through     INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    archive_url TEXT
);

CREATE TABLE events_rebuilt (
    event_id          TEXT PRIMARY KEY,
    event_type        TEXT NOT NULL,
    sequence_number   INTEGER UNIQUE NOT NULL,
    timestamp_utc     TEXT NOT NULL,
    timestamp_logical INTEGER NOT NULL,
    causation_id      TEXT REFERENCES event_ids(event_id),
    correlation_id    TEXT NOT NULL,
    metadata          TEXT NOT NULL CHECK (json_valid(metadata)),
    payload           TEXT NOT NULL CHECK (json_valid(payload)),
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    canonical         BLOB NOT NULL
);
INSERT INTO events_rebuilt SELECT event_id, event_type, sequence_number, timestamp_utc,
    timestamp_logical, causation_id, correlation_id, metadata, payload, prev_hash, hash, canonical
FROM events ORDER BY sequence_number;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;

CREATE INDEX idx_events_correlation_id ON events(correlation_id);
CREATE INDEX idx_events_causation_id ON events(causation_id);
CREATE INDEX idx_events_timestamp_utc ON events(timestamp_utc);
CREATE INDEX idx_events_type_time ON events(event_type, timestamp_utc);
CREATE INDEX idx_events_snapshot_at
    ON events(CAST(json_extract(payload, '$.at_sequence') AS INTEGER))
    WHERE event_type = 'state_snapshot';
CREATE INDEX idx_events_symbol_seq ON events(
    COALESCE(json_extract(payload, '$.symbol'), json_extract(payload, '$.context.symbol')),
    sequence_number
);
CREATE INDEX idx_events_type_seq ON events(event_type, sequence_number);

CREATE TRIGGER events_immutable_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;

CREATE TRIGGER events_immutable_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END;

-- As 002_chain_guard.sql: a row must be the new head. The head is never pruned.
CREATE TRIGGER events_chain_guard BEFORE INSERT ON events
BEGIN
    SELECT RAISE(ABORT, 'chain guard: sequence_number must be the head''s sequence_number + 1 (SELECT max(sequence_number) + 1 FROM events), 1 for the first event')
    WHERE NEW.sequence_number IS NOT (SELECT coalesce(max(sequence_number), 0) + 1 FROM events);
    SELECT RAISE(ABORT, 'chain guard: prev_hash must be the head''s hash (64 zeros for the first event)')
    WHERE NEW.prev_hash IS NOT coalesce(
        (SELECT hash FROM events WHERE sequence_number = NEW.sequence_number - 1),
        '0000000000000000000000000000000000000000000000000000000000000000');
    SELECT RAISE(ABORT, 'chain guard: hash must be SHA-256(prev_hash || canonical) as lowercase hex')
    WHERE NEW.hash IS NOT claire_chain_hash(NEW.prev_hash, NEW.canonical);
END;

-- Every id, as it is stored (a duplicate id fails here even when its event was pruned).
CREATE TRIGGER events_remember_id AFTER INSERT ON events
BEGIN
    INSERT INTO event_ids (event_id, sequence_number) VALUES (NEW.event_id, NEW.sequence_number);
END;
