"""Conditional append (issue 15 §2): what `expected_sequence` and `expected_version` cost.

Beside each other in the same run, on the same store, the order rotated every round:
- single-event durable appends (p50 latency): unconditional, with `expected_sequence` (the
  head compared with what the append reads anyway: no query more), with `expected_version`
  (one count by the correlation id's index, in the append's transaction);
- batches of 1,000 (events/s): unconditional and with `expected_sequence`.
PostgreSQL and SQLite. The caller tracks the head from the numbers its appends return, as a
single writer would (a `head()` call per append would measure the read, not the check).
`CLAIRE_BENCH_SCALE=0.1` for a quick look.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.common import (
    Figure,
    Timer,
    heading,
    interleaved,
    line,
    percentile,
    scaled,
    throwaway_postgres,
)
from claire.events import BaseEvent, EventFactory
from claire.store import EventStore
from claire.store.postgres import PostgresEventStore
from claire.store.sqlite import SqliteEventStore

BATCH = 1000
TRADE = 10  # events per correlation id in the expected_version run (a trade's length)


class Subject:
    """Appends to one store, tracking its head and each correlation's count locally."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.factory = EventFactory(service_name="bench-conditional", version="1")
        self.head = store.head().sequence_number

    def alert(self, correlation_id: uuid.UUID) -> BaseEvent:
        return self.factory.create_alert(
            level="INFO", code="bench", message="conditional", correlation_id=correlation_id
        )

    def singles(self, n: int, mode: str) -> float:
        """p50 latency (ms) of n single-event appends."""
        latencies = []
        correlation, count = uuid.uuid4(), 0
        for _ in range(n):
            if count == TRADE:
                correlation, count = uuid.uuid4(), 0
            event = self.alert(correlation)
            started = Timer()
            if mode == "plain":
                numbers = self.store.append(event)
            elif mode == "expected_sequence":
                numbers = self.store.append(event, expected_sequence=self.head)
            else:
                numbers = self.store.append(event, expected_version=count)
            latencies.append(started.seconds * 1000)
            self.head, count = numbers[-1], count + 1
        return percentile(latencies, 50)

    def batches(self, n: int, conditional: bool) -> float:
        """Events/s of n events appended BATCH at a time."""
        batches = [[self.alert(uuid.uuid4()) for _ in range(BATCH)] for _ in range(n // BATCH)]
        started = Timer()
        for batch in batches:
            expected = self.head if conditional else None
            self.head = self.store.append(batch, expected_sequence=expected)[-1]
        return len(batches) * BATCH / started.seconds


def measure(name: str, store: EventStore, singles: int, batched: int) -> None:
    subject = Subject(store)
    subject.singles(50, "plain")  # warm the connection and the statement cache
    heading(f"conditional append, {name}: {singles:,} single-event appends, x3")
    modes = ("plain", "expected_sequence", "expected_version")
    single_subjects: dict[str, Callable[[], float]] = {
        mode: partial(subject.singles, singles, mode) for mode in modes
    }
    show(interleaved(single_subjects), "plain", "ms", 3, "p50 latency")
    heading(f"conditional append, {name}: {batched:,} events in batches of {BATCH:,}, x3")
    batch_subjects: dict[str, Callable[[], float]] = {
        "plain": partial(subject.batches, batched, False),
        "expected_sequence": partial(subject.batches, batched, True),
    }
    show(interleaved(batch_subjects), "plain", "ev/s", 0, "rate")


def show(figures: dict[str, Figure], base: str, unit: str, digits: int, what: str) -> None:
    for mode, figure in figures.items():
        note = "" if mode == base else f"{figure.ratio(figures[base]):.2f}x the unconditional"
        line(f"{what}, {mode}", figure.show(unit, digits), note)


def run() -> None:
    singles, batched = scaled(2000), max(BATCH, scaled(50_000))
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        measure("PostgreSQL", store, singles, batched)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'events.db'}"
        with SqliteEventStore(url, create=True) as lite:
            measure("SQLite", lite, max(1, singles // 4), batched)


if __name__ == "__main__":
    run()
