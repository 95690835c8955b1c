"""Batched appends against the raw insert of the same rows, on PostgreSQL and SQLite.

Every figure is the median of three rounds (min-max beside it), baseline and subjects
interleaved round by round, each on a fresh database with the full schema. The baseline does
only the unavoidable work: the same precomputed rows, columns and protocol, into the same table,
whose chain guard every writer pays. Beside it, the guard's own cost (the same raw insert with
the guard disabled) and, on SQLite, the cost of durable commits (synchronous=FULL, our default)
against NORMAL.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg

from benchmarks.common import Timer, heading, line, percentile, throwaway_postgres
from benchmarks.store_events import BATCH, against, batches, rate
from claire.events import BaseEvent
from claire.store import EventStore, EventWriter, Head, open_store
from claire.store.port import Batch, plan_append
from claire.store.postgres import (
    COPY_EVENTS,
    COPY_TYPES,
    PostgresEventStore,
    RawJsonbDumper,
    row_values,
)
from claire.store.sqlite import INSERT as SQLITE_INSERT
from claire.store.sqlite import SqliteEventStore
from claire.store.sqlite import row_values as sqlite_row_values
from claire.store.sqlite_schema import register_functions

ROUNDS = 3
# Where the SQLite files go: fsync is what FULL costs, so this must be the disk the store would
# use (a tmpfs /tmp makes it free). Default: the system's temporary directory.
BENCH_DIR = os.environ.get("CLAIRE_BENCH_DIR") or None


def interleaved(subjects: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Seconds of each subject, ROUNDS times, one of each per round."""
    seconds: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(ROUNDS):
        for name, subject in subjects.items():
            seconds[name].append(subject())
    return seconds


def rates(n: int, seconds: list[float]) -> tuple[float, str]:
    """The median rate, and it with its min-max as text."""
    values = sorted(n / s for s in seconds)
    median = statistics.median(values)
    return median, f"{median:,.0f} ev/s ({values[0]:,.0f}-{values[-1]:,.0f})"


def cost(without: float, with_it: float) -> str:
    """What a feature costs, as the share of throughput it takes."""
    return f"{1 - with_it / without:.0%} of the throughput"


def batched_append(store: EventStore, events: list[BaseEvent]) -> float:
    writer = EventWriter(store)
    timer = Timer()
    for chunk in batches(events, BATCH):
        writer.write(chunk)
    return timer.seconds


def planned(events: list[BaseEvent]) -> list[list[Any]]:
    """Each batch's rows as our store plans them (numbered and hashed), computed ahead."""
    head = Head(0, "0" * 64)
    out = []
    for chunk in batches(events, BATCH):
        plan = plan_append(Batch.of(chunk), head, {}, set())
        out.append(plan.rows)
        head = Head(plan.rows[-1].sequence_number, plan.rows[-1].hash)
    return out


# --- PostgreSQL ----------------------------------------------------------------------------
def raw_copy(chunks: list[list[tuple[Any, ...]]], *, guard: bool) -> float:
    """Binary COPY of precomputed rows, one transaction per 1,000 rows, like our batches."""
    with throwaway_postgres() as url:
        open_store(url, create=True).close()  # the full schema
        with psycopg.connect(url) as conn:
            if not guard:
                conn.execute("ALTER TABLE events DISABLE TRIGGER events_chain_guard")
                conn.commit()
            conn.adapters.register_dumper(None, RawJsonbDumper)
            timer = Timer()
            for chunk in chunks:
                with conn.cursor() as cur, cur.copy(COPY_EVENTS) as copy:
                    copy.set_types(COPY_TYPES)
                    for row in chunk:
                        copy.write_row(row)
                conn.commit()
            return timer.seconds


def ours_postgres(
    events: list[BaseEvent], *, optimistic: bool = True, twice: bool = False
) -> float:
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        store.optimistic = optimistic
        seconds = batched_append(store, events)
        return batched_append(store, events) if twice else seconds


def postgres_append(events: list[BaseEvent]) -> float:
    """Raw COPY vs EventWriter; returns our median events per second."""
    n = len(events)
    heading(f"store: PostgreSQL batched append ({n:,} events, {BATCH:,} a batch, median of 3)")
    payload = sum(len(orjson.dumps(e.payload)) for e in events) / n
    line("average payload size (JSON)", f"{payload:,.0f} bytes")
    chunks = [row_values(rows) for rows in planned(events)]
    seconds = interleaved(
        {
            "raw": lambda: raw_copy(chunks, guard=False),
            "guarded": lambda: raw_copy(chunks, guard=True),
            "ours": lambda: ours_postgres(events),
        }
    )
    raw, raw_text = rates(n, seconds["raw"])
    guarded, guarded_text = rates(n, seconds["guarded"])
    ours, ours_text = rates(n, seconds["ours"])
    line("raw binary COPY of the same rows, same table", guarded_text, "baseline (guarded)")
    line(
        "  the same COPY without the chain guard", raw_text, f"the guard costs {cost(raw, guarded)}"
    )
    line(
        "EventWriter.write (hash chain, gapless)",
        ours_text,
        against(ours, guarded, 0.6, "raw COPY") + f"; {ours / raw:.2f}x the unguarded COPY",
    )
    line(
        "  the same batches again (idempotent, stores nothing)",
        rate(n, ours_postgres(events, twice=True)),
    )
    checked = ours_postgres(events, optimistic=False)
    line(
        "  looking up ids and causes before every insert",
        rate(n, checked),
        f"optimistic insert is {checked * ours / n:.2f}x as fast",
    )
    return ours


# --- SQLite --------------------------------------------------------------------------------
@contextmanager
def sqlite_file(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        yield Path(tmp) / name


def raw_sqlite_insert(chunks: list[list[tuple[Any, ...]]], *, guard: bool) -> float:
    """sqlite3 executemany of precomputed rows, durable like ours (synchronous=FULL)."""
    with sqlite_file("raw.db") as path:
        open_store(f"sqlite:///{path}", create=True).close()  # the full schema, WAL
        db = sqlite3.connect(path, isolation_level=None)
        register_functions(db)
        if not guard:
            db.execute("DROP TRIGGER events_chain_guard")
        db.execute("PRAGMA synchronous=FULL")  # as ours: durable commits
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA foreign_keys=ON")
        timer = Timer()
        for chunk in chunks:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(SQLITE_INSERT, chunk)
            db.execute("COMMIT")
        seconds = timer.seconds
        db.close()
        return seconds


@contextmanager
def our_sqlite(synchronous: str) -> Iterator[SqliteEventStore]:
    with sqlite_file("ours.db") as path:
        store = SqliteEventStore(f"sqlite:///{path}", create=True)
        try:
            store._db.execute(f"PRAGMA synchronous={synchronous}")  # FULL is the default
            yield store
        finally:
            store.close()


def ours_sqlite(events: list[BaseEvent], synchronous: str) -> float:
    with our_sqlite(synchronous) as store:
        return batched_append(store, events)


def sqlite_append(events: list[BaseEvent], singles: list[BaseEvent]) -> None:
    n = len(events)
    heading(f"store: SQLite batched append ({n:,} events, {BATCH:,} a batch, median of 3)")
    line("files in", tempfile.gettempdir() if BENCH_DIR is None else BENCH_DIR, "CLAIRE_BENCH_DIR")
    chunks = [[sqlite_row_values(r) for r in rows] for rows in planned(events)]
    seconds = interleaved(
        {
            "raw": lambda: raw_sqlite_insert(chunks, guard=False),
            "guarded": lambda: raw_sqlite_insert(chunks, guard=True),
            "full": lambda: ours_sqlite(events, "FULL"),
            "normal": lambda: ours_sqlite(events, "NORMAL"),
        }
    )
    raw, raw_text = rates(n, seconds["raw"])
    guarded, guarded_text = rates(n, seconds["guarded"])
    full, full_text = rates(n, seconds["full"])
    normal, normal_text = rates(n, seconds["normal"])
    line("raw sqlite3 executemany, same table, FULL", guarded_text, "baseline (guarded)")
    line("  the same without the chain guard", raw_text, f"the guard costs {cost(raw, guarded)}")
    line(
        "EventWriter.write, synchronous=FULL (the default)",
        full_text,
        against(full, guarded, 0.6, "raw insert") + f"; {full / raw:.2f}x the unguarded insert",
    )
    line(
        "EventWriter.write, synchronous=NORMAL",
        normal_text,
        f"durable commits (FULL) cost {cost(normal, full)}",
    )
    sqlite_single(singles)


def sqlite_single(events: list[BaseEvent]) -> None:
    """One event per transaction, as POST /events: here FULL's fsync is paid every time."""
    heading(f"store: SQLite single-event append, FULL vs NORMAL ({len(events) - 20:,} appends)")
    for synchronous in ("FULL", "NORMAL"):
        with our_sqlite(synchronous) as store:
            latencies = single_appends(store, events)
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        line(f"synchronous={synchronous}: p50 / p99 latency", f"{p50:.2f} / {p99:.2f} ms")


def single_appends(store: EventStore, events: list[BaseEvent]) -> list[float]:
    for event in events[:20]:  # warm the connection and the statement cache
        store.append(event)
    latencies = []
    for event in events[20:]:
        start = time.perf_counter()
        store.append(event)
        latencies.append(time.perf_counter() - start)
    return latencies
