"""Store benchmark (issue 2, section 5): every figure beside a baseline measured in this run.

PostgreSQL: raw binary COPY vs batched EventWriter appends (benchmarks/store_appends.py,
with the chain guard's cost); single-event append latency; raw psycopg fetch vs EventReader
decoding into BaseEvent. SQLite: the same shapes against raw sqlite3, and durable
(synchronous=FULL) against NORMAL commits. The peer: the `eventsourcing` library on the same
PostgreSQL. All on throwaway databases with the full schema. `CLAIRE_BENCH_SCALE=0.05` for a
quick look.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.string import TextLoader

from benchmarks.common import Timer, heading, line, percentile, scaled, throwaway_postgres, verdict
from benchmarks.store_appends import (
    postgres_append,
    single_appends,
    sqlite_append,
)
from benchmarks.store_events import BATCH, against, batches, decision_chains, rate
from claire.events import BaseEvent
from claire.store import EventReader, EventStore, open_store
from claire.store.postgres import PostgresEventStore

READ_PAGE = 5000


# --- PostgreSQL ----------------------------------------------------------------------------
def populate(targets: list[tuple[EventStore, int]], count: int) -> None:
    """Append the first `limit` events of one stream of `count` to each (store, limit)."""
    chunk: list[BaseEvent] = []
    done = 0
    for event in decision_chains(count, seed=3):
        chunk.append(event)
        if len(chunk) == READ_PAGE or done + len(chunk) == count:
            for store, limit in targets:
                if done < limit:
                    store.append(chunk[: limit - done])
            done += len(chunk)
            chunk = []


SEED_COLUMNS = (
    "event_id, event_type, sequence_number, timestamp_utc, timestamp_logical, causation_id,"
    " correlation_id, metadata, payload"
)


def raw_pg_fetch(url: str, columns: str = "*") -> tuple[int, float]:
    """Every row, text protocol, JSONB left as text: no decoding of ours."""
    with psycopg.connect(url) as conn:
        conn.adapters.register_loader("jsonb", TextLoader)
        timer = Timer()
        count = 0
        with conn.cursor(name="raw_fetch") as cur:
            cur.itersize = READ_PAGE
            cur.execute(f"SELECT {columns} FROM events ORDER BY sequence_number")
            while rows := cur.fetchmany(READ_PAGE):
                count += len(rows)
        return count, timer.seconds


def reader_read(store: EventStore) -> tuple[int, float]:
    timer = Timer()
    count = 0
    for event in EventReader(store).read_events(from_sequence=1, to_sequence=None, limit=None):
        count += event.sequence_number is not None
    return count, timer.seconds


# --- SQLite --------------------------------------------------------------------------------
def raw_sqlite_fetch(path: Path) -> tuple[int, float]:
    db = sqlite3.connect(path)
    timer = Timer()
    count = 0
    cursor = db.execute("SELECT * FROM events ORDER BY sequence_number")
    while rows := cursor.fetchmany(READ_PAGE):
        count += len(rows)
    seconds = timer.seconds
    db.close()
    return count, seconds


# --- the peer: the eventsourcing library ---------------------------------------------------
def peer_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
    }


def peer_append_and_read(url: str, events: list[BaseEvent]) -> tuple[float, int, float]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Ledger(Aggregate):
        @event("Recorded")
        def record(self, payload: dict[str, Any]) -> None:
            """One recorded fact, the same payload our events carry."""

    app: Any = Application(env=peer_env(url))
    aggregates = []
    for chunk in batches(events, BATCH):
        ledger = Ledger()  # its creation is the first of 1,000 events
        for item in chunk[1:]:
            ledger.record(item.payload)
        aggregates.append(ledger)
    timer = Timer()
    for ledger in aggregates:
        app.save(ledger)
    append_seconds = timer.seconds

    timer = Timer()
    count, start = 0, 1
    while notifications := app.recorder.select_notifications(start, READ_PAGE):
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id + 1
    read_seconds = timer.seconds
    app.close()
    return append_seconds, count, read_seconds


# --- the report ----------------------------------------------------------------------------
def timed(label: str, work: Callable[[], None]) -> None:
    timer = Timer()
    work()
    line(label, f"{timer.seconds:,.1f} s", "(setup, not a figure)")


def postgres_single(events: list[BaseEvent], warm: list[BaseEvent]) -> None:
    heading(f"store: PostgreSQL single-event durable append ({len(events) - 20:,} appends)")
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        store.append(warm)
        latencies = single_appends(store, events)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    line("p50 latency", f"{p50:.2f} ms")
    line("p99 latency", f"{p99:.2f} ms", f"target <= 2 ms: {verdict(p99 <= 2.0)}")
    line("max latency", f"{max(latencies) * 1000:.2f} ms")


def compare_read(label: str, raw: tuple[int, float], store: EventStore, expected: int) -> float:
    raw_count, raw_seconds = raw
    line(f"{label} raw fetch (undecoded, all columns)", rate(raw_count, raw_seconds), "baseline")
    count, seconds = reader_read(store)
    if not count == raw_count == expected:
        raise AssertionError(f"read {count} events, raw fetch {raw_count}, stored {expected}")
    line(
        f"{label} EventReader.read_events -> BaseEvent",
        rate(count, seconds),
        against(count / seconds, raw_count / raw_seconds, 0.5, "raw fetch"),
    )
    return count / seconds


def sequential_reads(n_read: int, n_sqlite: int) -> float:
    """PostgreSQL and SQLite reads of the same events; returns our PostgreSQL events/s.

    SQLite reads the first `n_sqlite` of them: filling a second store with a million events
    would take most of the time budget on this 2-core machine.
    """
    heading(f"store: sequential read into BaseEvent (PostgreSQL {n_read:,}, SQLite {n_sqlite:,})")
    with (
        throwaway_postgres() as url,
        PostgresEventStore(url, create=True) as store,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "read.db"
        with open_store(f"sqlite:///{path}", create=True) as lite:
            timed(
                f"populate PostgreSQL ({n_read:,}) and SQLite ({n_sqlite:,})",
                lambda: populate([(store, n_read), (lite, n_sqlite)], n_read),
            )
            ours = compare_read("PostgreSQL", raw_pg_fetch(url), store, n_read)
            # For context: the seed's table has no canonical column, so its rows are smaller.
            seed_count, seed_seconds = raw_pg_fetch(url, SEED_COLUMNS)
            line(
                "PostgreSQL raw fetch, the seed's columns only",
                rate(seed_count, seed_seconds),
                f"ours is {ours / (seed_count / seed_seconds):.2f}x this (context, not a target)",
            )
            compare_read("SQLite", raw_sqlite_fetch(path), lite, n_sqlite)
    return ours


def peer(events: list[BaseEvent], ours_append: float, ours_read: float) -> None:
    n = len(events)
    heading(f"store: the peer, eventsourcing on the same PostgreSQL ({n:,} events)")
    with throwaway_postgres() as url:
        append_seconds, count, read_seconds = peer_append_and_read(url, events)
    if count != n:
        raise AssertionError(f"eventsourcing read back {count} of {n} events")
    peer_append, peer_read = n / append_seconds, count / read_seconds
    line("eventsourcing append, 1,000 events a save", rate(n, append_seconds))
    line("eventsourcing notification log read, decoded", rate(count, read_seconds))
    line(
        "ours / eventsourcing, batched append",
        f"{ours_append / peer_append:.2f}x",
        f"ahead: {verdict(ours_append > peer_append)}",
    )
    line(
        "ours / eventsourcing, decoded read",
        f"{ours_read / peer_read:.2f}x",
        f"ahead: {verdict(ours_read > peer_read)}",
    )


def run() -> None:
    n_append, n_single, n_read = scaled(100_000), scaled(2_000), scaled(1_000_000)
    events = list(decision_chains(n_append, seed=1))
    singles = list(decision_chains(n_single + 20, seed=2))
    ours_append = postgres_append(events)
    postgres_single(singles, events[: min(3000, n_append)])
    ours_read = sequential_reads(n_read, min(n_read, scaled(200_000)))
    sqlite_append(events, singles)
    peer(events, ours_append, ours_read)


if __name__ == "__main__":
    run()
