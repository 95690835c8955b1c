"""Prometheus metrics the ingest worker updates (served by the API's GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_APPENDED = Counter(
    "claire_events_appended",
    "Events committed to the store (ingest worker and POST /events), by event type; "
    "idempotent re-deliveries count again",
    ["event_type", "source"],
)
APPEND_LATENCY = Histogram(
    "claire_append_latency_seconds",
    "Time of one store.append transaction (a whole batch)",
    ["source"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DEAD_LETTERS = Counter(
    "claire_dead_letters",
    "Messages this process moved to the dead-letter stream, by kind of reason",
    ["kind"],
)
INGEST_ERRORS = Counter(
    "claire_ingest_reconnects",
    "Times the ingest worker lost Redis or the store and backed off",
    ["dependency"],
)
