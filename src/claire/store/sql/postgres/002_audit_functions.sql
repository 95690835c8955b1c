-- The seed's audit functions, usable from psql:
--   SELECT * FROM get_causation_chain('<event-id>');
--   SELECT * FROM get_correlation_events('<correlation-id>');
--   SELECT explain_decision('<decision-event-id>');
--   SELECT * FROM get_event_stats();   -- or get_event_stats(since, until)

-- An event as a JSON document for people (the canonical bytes are left out: they repeat it).
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
        'hash', e.hash)
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
    payload jsonb
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
           e.metadata, e.payload
    FROM chain c JOIN events e ON e.event_id = c.event_id
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
    payload jsonb
)
LANGUAGE sql STABLE AS $$
    SELECT e.event_id, e.event_type, e.sequence_number, e.timestamp_utc, e.timestamp_logical,
           e.causation_id, e.correlation_id, e.metadata, e.payload
    FROM events e WHERE e.correlation_id = p_correlation_id
    ORDER BY e.sequence_number
$$;

-- A decision explained by walking its causation chain: the decision, the nearest signal and
-- market data among its ancestors, and the whole chain root first. NULL for an unknown id.
CREATE FUNCTION explain_decision(p_decision_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH chain AS (
        SELECT c.depth, e FROM get_causation_chain(p_decision_id) c
        JOIN events e ON e.event_id = c.event_id
    )
    SELECT CASE WHEN count(*) = 0 THEN NULL ELSE jsonb_build_object(
        'decision', (SELECT event_document(e) FROM chain ORDER BY depth DESC LIMIT 1),
        'signal', (SELECT event_document(e) FROM chain
                   WHERE (e).event_type = 'signal_generated' AND (e).event_id <> p_decision_id
                   ORDER BY depth DESC LIMIT 1),
        'market_data', (SELECT event_document(e) FROM chain
                        WHERE (e).event_type = 'market_data' AND (e).event_id <> p_decision_id
                        ORDER BY depth DESC LIMIT 1),
        'chain', (SELECT jsonb_agg(event_document(e) ORDER BY depth) FROM chain)
    ) END
    FROM chain
$$;

-- Count, first and last timestamp per event type, for since <= timestamp_utc < until
-- (NULL bounds are open).
CREATE FUNCTION get_event_stats(p_since timestamptz, p_until timestamptz)
RETURNS TABLE (
    event_type varchar(50),
    event_count bigint,
    first_event timestamptz,
    last_event timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT e.event_type, count(*), min(e.timestamp_utc), max(e.timestamp_utc)
    FROM events e
    WHERE (p_since IS NULL OR e.timestamp_utc >= p_since)
      AND (p_until IS NULL OR e.timestamp_utc < p_until)
    GROUP BY e.event_type
    ORDER BY e.event_type
$$;

CREATE FUNCTION get_event_stats()
RETURNS TABLE (
    event_type varchar(50),
    event_count bigint,
    first_event timestamptz,
    last_event timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT * FROM get_event_stats(NULL::timestamptz, NULL::timestamptz)
$$;
