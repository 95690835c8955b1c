-- Timeline reads (issue 10).
-- 1. One symbol's events in sequence order: a symbol's price series, its markers, the decision
--    before or after a moment, the scene's event lists filtered by symbol. The symbol lives in
--    the payload (an alert names it in payload.context), so this is an expression index on
--    exactly what store.postgres.SYMBOL queries. An expression index rather than a stored
--    generated column: adding that column would rewrite the whole (immutable) table under an
--    exclusive lock and change the rows `verify` compares with the hashed bytes; the index
--    changes neither what the writer inserts nor what is stored.
-- 2. One event type's events in sequence order: alerts of a range, every decision before or
--    after a sequence, the position updates of a trade range.
CREATE INDEX idx_events_symbol_seq
    ON events ((COALESCE(payload->>'symbol', payload->'context'->>'symbol')), sequence_number);
CREATE INDEX idx_events_type_seq ON events (event_type, sequence_number);
