-- Timeline reads (issue 10): one symbol's events in sequence order (price series, markers,
-- the decisions before and after a moment) and one event type's events in sequence order
-- (alerts, decisions of every symbol). The symbol is the expression the adapter queries
-- (store.sqlite.SYMBOL): payload.symbol, else an alert's payload.context.symbol.
CREATE INDEX IF NOT EXISTS idx_events_symbol_seq ON events(
    COALESCE(json_extract(payload, '$.symbol'), json_extract(payload, '$.context.symbol')),
    sequence_number
);
CREATE INDEX IF NOT EXISTS idx_events_type_seq ON events(event_type, sequence_number);
