-- The database enforces the hash chain on every INSERT, whoever writes: a row must be the new
-- head (sequence_number = the current head's + 1, so the oldest rows may be archived away),
-- chain onto the head's hash (64 zeros for the first event), and carry
-- hash = SHA-256(prev_hash || canonical).
--
-- SQLite has no SHA-256, so the hash check calls claire_chain_hash(prev_hash, canonical), a
-- function every Claire connection registers. A client without it (the sqlite3 shell, another
-- program) cannot insert at all: it gets "no such function: claire_chain_hash". That fails
-- closed on purpose: only Claire writes the log; reading, .backup, VACUUM INTO and .dump (which
-- creates triggers after the rows) are unaffected.
--
-- SQLite before 3.48 accepts only a literal text in RAISE, so the messages name the rule;
-- Claire's adapter adds the head's sequence number and hash when it reports one.
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
