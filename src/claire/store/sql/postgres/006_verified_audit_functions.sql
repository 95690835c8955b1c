-- The SQL audit functions flag every event the hash chain cannot vouch for (issue 12 §3).
--
-- Someone who can write the table (triggers disabled, as a superuser) can edit a JSONB column
-- and leave the hashed bytes alone, or edit the bytes and recompute the row's hash. Before
-- this, get_causation_chain and explain_decision returned such rows as if they were genuine.
-- Now every row they return carries `verified` and `problem`, from the same three checks, in
-- the same words, as claire.audit.vouch (what `claire explain`, `trace` and the API show):
--   1. hash = SHA-256(prev_hash || canonical)          (else the hashed bytes were edited)
--   2. the JSON columns equal the canonical bytes      (else a column was edited)
--   3. the next row's prev_hash is this row's hash     (else it was edited and re-hashed, or
--                                                       rows after it were removed)
-- The newest row has no next row: only a signed checkpoint vouches for it (`claire verify
-- --checkpoints`).

-- NULL when the row verifies, else why not.
CREATE FUNCTION event_problem(e events) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c         jsonb;
    differing text[] := '{}';
    next_prev text;
BEGIN
    IF e.prev_hash !~ '^[0-9a-f]{64}$' OR e.hash !~ '^[0-9a-f]{64}$'
       OR sha256(decode(e.prev_hash, 'hex') || e.canonical) <> decode(e.hash, 'hex') THEN
        RETURN 'its hash does not recompute from prev_hash and the canonical bytes (the hashed '
            'bytes were edited)';
    END IF;
    BEGIN
        c := convert_from(e.canonical, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
        RETURN 'the hashed bytes are not a JSON event';
    END;
    -- In the order of the canonical document's keys, as the Python check names them.
    IF c->>'causation_id' IS DISTINCT FROM e.causation_id::text THEN
        differing := differing || 'causation_id'::text;
    END IF;
    IF c->>'correlation_id' IS DISTINCT FROM e.correlation_id::text THEN
        differing := differing || 'correlation_id'::text;
    END IF;
    IF c->>'event_id' IS DISTINCT FROM e.event_id::text THEN
        differing := differing || 'event_id'::text;
    END IF;
    IF c->>'event_type' IS DISTINCT FROM e.event_type THEN
        differing := differing || 'event_type'::text;
    END IF;
    IF c->'metadata' IS DISTINCT FROM e.metadata THEN
        differing := differing || 'metadata'::text;
    END IF;
    IF c->'payload' IS DISTINCT FROM e.payload THEN
        differing := differing || 'payload'::text;
    END IF;
    IF c->'timestamp_logical' IS DISTINCT FROM to_jsonb(e.timestamp_logical) THEN
        differing := differing || 'timestamp_logical'::text;
    END IF;
    IF c->>'timestamp_utc' IS DISTINCT FROM
       to_char(e.timestamp_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') THEN
        differing := differing || 'timestamp_utc'::text;
    END IF;
    IF cardinality(differing) > 0 THEN
        RETURN array_to_string(differing, ', ')
            || CASE WHEN cardinality(differing) = 1 THEN ' column differs' ELSE ' columns differ' END
            || ' from the hashed bytes';
    END IF;
    SELECT n.prev_hash INTO next_prev FROM events n WHERE n.sequence_number = e.sequence_number + 1;
    IF FOUND THEN
        IF next_prev IS DISTINCT FROM e.hash THEN
            RETURN format('the next event (%s) committed to another hash: this event was altered '
                'and its hash recomputed, or events after it were removed', e.sequence_number + 1);
        END IF;
    ELSIF EXISTS (SELECT 1 FROM events x WHERE x.sequence_number > e.sequence_number) THEN
        RETURN format('the next event (%s) is missing, so nothing vouches for this one',
            e.sequence_number + 1);
    END IF;
    RETURN NULL;
END;
$$;

-- The functions below change their result type, so they are dropped and created again.
DROP FUNCTION explain_decision(uuid);
DROP FUNCTION get_causation_chain(uuid);
DROP FUNCTION get_correlation_events(uuid);
DROP FUNCTION event_document(events);

-- An event as a JSON document for people, with the chain's verdict on it.
CREATE FUNCTION event_document(e events) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'event_id', e.event_id,
        'event_type', e.event_type,
        'sequence_number', e.sequence_number,
        'timestamp_utc', e.timestamp_utc,
        'timestamp_logical', e.timestamp_logical,
        'causation_id', e.causation_id,
        'correlation_id', e.correlation_id,
        'metadata', e.metadata,
        'payload', e.payload,
        'hash', e.hash,
        'verified', p.problem IS NULL,
        'problem', p.problem)
    FROM (SELECT event_problem(e) AS problem) p
$$;

-- The event and its ancestors, root first (depth 0), the event itself last.
CREATE FUNCTION get_causation_chain(p_event_id uuid)
RETURNS TABLE (
    depth integer,
    event_id uuid,
    event_type varchar(50),
    sequence_number bigint,
    timestamp_utc timestamptz,
    timestamp_logical bigint,
    causation_id uuid,
    correlation_id uuid,
    metadata jsonb,
    payload jsonb,
    verified boolean,
    problem text
)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(event_id, causation_id, up) AS (
        SELECT e.event_id, e.causation_id, 0 FROM events e WHERE e.event_id = p_event_id
        UNION ALL
        SELECT e.event_id, e.causation_id, c.up + 1
        FROM events e JOIN chain c ON e.event_id = c.causation_id
    )
    SELECT (max(c.up) OVER () - c.up)::integer, e.event_id, e.event_type, e.sequence_number,
           e.timestamp_utc, e.timestamp_logical, e.causation_id, e.correlation_id,
           e.metadata, e.payload, p.problem IS NULL, p.problem
    FROM chain c JOIN events e ON e.event_id = c.event_id
    CROSS JOIN LATERAL (SELECT event_problem(e) AS problem) p
    ORDER BY c.up DESC
$$;

-- Every event of one correlation (one trade), in sequence order.
CREATE FUNCTION get_correlation_events(p_correlation_id uuid)
RETURNS TABLE (
    event_id uuid,
    event_type varchar(50),
    sequence_number bigint,
    timestamp_utc timestamptz,
    timestamp_logical bigint,
    causation_id uuid,
    correlation_id uuid,
    metadata jsonb,
    payload jsonb,
    verified boolean,
    problem text
)
LANGUAGE sql STABLE AS $$
    SELECT e.event_id, e.event_type, e.sequence_number, e.timestamp_utc, e.timestamp_logical,
           e.causation_id, e.correlation_id, e.metadata, e.payload, p.problem IS NULL, p.problem
    FROM events e CROSS JOIN LATERAL (SELECT event_problem(e) AS problem) p
    WHERE e.correlation_id = p_correlation_id
    ORDER BY e.sequence_number
$$;

-- A decision explained by walking its causation chain: the decision, the nearest signal and
-- market data among its ancestors, and the whole chain root first, each with its verdict;
-- `verified` is true when every event of the chain verifies. NULL for an unknown id.
CREATE FUNCTION explain_decision(p_decision_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH chain AS (
        SELECT c.depth, event_document(e) AS doc FROM get_causation_chain(p_decision_id) c
        JOIN events e ON e.event_id = c.event_id
    )
    SELECT CASE WHEN count(*) = 0 THEN NULL ELSE jsonb_build_object(
        'decision', (SELECT doc FROM chain ORDER BY depth DESC LIMIT 1),
        'signal', (SELECT doc FROM chain
                   WHERE doc->>'event_type' = 'signal_generated'
                     AND (doc->>'event_id')::uuid <> p_decision_id
                   ORDER BY depth DESC LIMIT 1),
        'market_data', (SELECT doc FROM chain
                        WHERE doc->>'event_type' = 'market_data'
                          AND (doc->>'event_id')::uuid <> p_decision_id
                        ORDER BY depth DESC LIMIT 1),
        'chain', (SELECT jsonb_agg(doc ORDER BY depth) FROM chain),
        'verified', bool_and((doc->>'verified')::boolean)
    ) END
    FROM chain
$$;
