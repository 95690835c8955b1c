"""Prometheus metrics the ingest worker updates (served by the API's GET /metrics).

Label values come from fixed sets (event types, sources, kinds of reason, dependencies), never
from error messages or URLs: a label must not carry a secret, nor grow without bound.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from claire.events.model import BaseEvent
from claire.store.port import EventStore

EVENTS_APPENDED = Counter(
    "claire_events_appended",
    "Events newly stored (new sequence numbers) by the ingest worker and POST /events, by "
    "event type; an idempotent re-delivery of a stored event does not count",
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
    "Times the ingest worker met a passing outage (Redis or the store: unreachable, "
    "read-only, locked, refusing privileges, ...) and backed off, keeping its messages pending",
    ["dependency"],
)
INGEST_DEGRADED = Gauge(
    "claire_ingest_degraded",
    "1 while the ingest worker is retrying through an outage (messages kept pending), else 0",
)


def timed_append(
    store: EventStore,
    events: Sequence[BaseEvent],
    source: str,
    expected_sequence: int | None = None,
) -> list[int]:
    """`store.append(events)`, timed (APPEND_LATENCY) and counted (EVENTS_APPENDED: only what
    it stored anew). The one way both doors append. `expected_sequence`: a conditional append
    (POST /events with If-Match), see EventStore.append."""
    head = store.head().sequence_number  # what is new is numbered above it
    started = time.perf_counter()
    sequence_numbers = store.append(events, expected_sequence=expected_sequence)
    APPEND_LATENCY.labels(source).observe(time.perf_counter() - started)
    count_stored(events, sequence_numbers, head, source)
    return sequence_numbers


def count_stored(
    events: Sequence[BaseEvent], sequence_numbers: Sequence[int], head_before: int, source: str
) -> int:
    """Count the events an append stored anew: those numbered above the head read before it
    (a stored event that comes again keeps its old, lower number). Returns how many."""
    new: dict[int, str] = {}
    for event, number in zip(events, sequence_numbers, strict=True):
        if number > head_before:
            new[number] = event.event_type.value  # a repeat inside the batch counts once
    for event_type, count in sorted(Tally(new.values()).items()):
        EVENTS_APPENDED.labels(event_type, source).inc(count)
    return len(new)
