-- The database enforces the hash chain on every INSERT, whoever writes (a client that skips the
-- append lock, or a bug): each new row must continue the head, with
--   sequence_number = the previous row's + 1 (1 for the first event),
--   prev_hash       = the previous row's hash (64 zeros for the first event),
--   hash            = SHA-256(prev_hash || canonical), prev_hash taken as 32 raw bytes.
-- A refusal names the row and the expected value.
--
-- Set-based: one statement-level trigger sees the statement's rows as a transition table and
-- checks the whole batch (one COPY of thousands of rows) in one query with window functions,
-- against the head before it. The head is the newest stored row below the batch, found by an
-- index probe, never row 1: archiving may remove the oldest rows, and the guard keeps working as
-- long as the newest row stays. A second probe refuses a batch that does not end at the top
-- (e.g. sequence 1 inserted again after the rows below the head were archived).
CREATE FUNCTION events_chain_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    first_seq bigint;
    last_seq  bigint;
    head_seq  bigint;
    head_hash text;
    bad       record;
BEGIN
    SELECT min(n.sequence_number), max(n.sequence_number) INTO first_seq, last_seq
    FROM new_rows n;
    IF first_seq IS NULL THEN
        RETURN NULL;
    END IF;
    -- max() is answered from the unique index (a plan with `> $1` may scan the table).
    SELECT max(e.sequence_number) INTO head_seq FROM events e;
    IF head_seq > last_seq THEN
        RAISE EXCEPTION 'chain guard: sequence_number % refused: expected % (the head is %)',
            first_seq, head_seq + 1, head_seq
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Events are appended at the head of the log, one after another.';
    END IF;
    SELECT max(e.sequence_number) INTO head_seq FROM events e WHERE e.sequence_number < first_seq;
    SELECT e.hash INTO head_hash FROM events e WHERE e.sequence_number = head_seq;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    SELECT c.* INTO bad FROM (
        SELECT n.sequence_number,
               n.prev_hash,
               n.hash,
               coalesce(lag(n.sequence_number) OVER w, head_seq) + 1 AS expected_seq,
               coalesce(lag(n.hash) OVER w, head_hash) AS expected_prev,
               -- Over the expected prev_hash: always hex, and a wrong one is reported first.
               encode(sha256(decode(coalesce(lag(n.hash) OVER w, head_hash), 'hex')
                             || n.canonical), 'hex') AS expected_hash
        FROM new_rows n
        WINDOW w AS (ORDER BY n.sequence_number)
    ) c
    WHERE c.sequence_number <> c.expected_seq
       OR c.prev_hash IS DISTINCT FROM c.expected_prev
       OR c.hash IS DISTINCT FROM c.expected_hash
    ORDER BY c.sequence_number
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.sequence_number <> bad.expected_seq THEN
        RAISE EXCEPTION 'chain guard: sequence_number % refused: expected % (the previous row is %)',
            bad.sequence_number, bad.expected_seq, bad.expected_seq - 1
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Events are appended at the head of the log, one after another.';
    ELSIF bad.prev_hash IS DISTINCT FROM bad.expected_prev THEN
        RAISE EXCEPTION 'chain guard: prev_hash of sequence_number % refused: expected % (the hash of sequence %)',
            bad.sequence_number, bad.expected_prev, bad.sequence_number - 1
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'prev_hash is the hash of the row before.';
    ELSE
        RAISE EXCEPTION 'chain guard: hash of sequence_number % refused: expected % = SHA-256(prev_hash || canonical)',
            bad.sequence_number, bad.expected_hash
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'hash covers the previous hash (32 bytes) and the canonical bytes.';
    END IF;
END;
$$;

CREATE TRIGGER events_chain_guard AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_chain_guard();
-- Like immutability: the guard fires always, replication mode included.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_chain_guard;
