"""Store benchmark (issue 2, section 5): every figure beside a baseline measured in this run.

PostgreSQL: raw binary COPY vs batched EventWriter appends; single-event append latency; raw
psycopg fetch vs EventReader decoding into BaseEvent. SQLite: the same shapes against raw
sqlite3. The peer: the `eventsourcing` library on the same PostgreSQL. All on throwaway
databases with the full schema. `CLAIRE_BENCH_SCALE=0.05` for a quick look.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg.types.string import TextLoader

from benchmarks.common import Timer, heading, line, percentile, scaled, throwaway_postgres, verdict
from claire.events import BaseEvent, EventFactory, LogicalClock, Side
from claire.store import EventReader, EventStore, EventWriter, Head, open_store
from claire.store.port import Batch, plan_append
from claire.store.postgres import (
    COPY_EVENTS,
    COPY_TYPES,
    PostgresEventStore,
    RawJsonbDumper,
    row_values,
)
from claire.store.sqlite import INSERT as SQLITE_INSERT
from claire.store.sqlite import row_values as sqlite_row_values

BATCH = 1000
READ_PAGE = 5000
START = datetime(2025, 2, 14, 9, 30, tzinfo=UTC)


# --- realistic events, built before any timing ---------------------------------------------
def producer(seed: int) -> tuple[EventFactory, random.Random]:
    rng = random.Random(seed)
    moments = (START + timedelta(milliseconds=i) for i in range(10**12))
    factory = EventFactory(
        service_name="signal-engine",
        version="1.4.2",
        environment="production",
        code_version="3f2a9c1",
        config_hash="9b1e0c7d55aa41f2",
        clock=LogicalClock(),
        now=lambda: next(moments),
        new_id=lambda: uuid.UUID(int=rng.getrandbits(128), version=4),
    )
    return factory, rng


def decision_chains(count: int, seed: int) -> Iterator[BaseEvent]:
    """market data -> signal -> risk decision, repeated: ~300-byte payloads on average."""
    factory, rng = producer(seed)
    made = 0
    while made < count:
        trade_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        price = Decimal(50_000 + rng.randrange(0, 100_000)) / 100
        md = factory.create_market_data(
            symbol="BTCUSDT",
            price=price,
            volume=Decimal(rng.randrange(1, 10**7)) / 1000,
            bid=price - Decimal("0.05"),
            ask=price + Decimal("0.05"),
            source="binance-ws",
            correlation_id=trade_id,
        )
        sig = factory.create_signal(
            symbol="BTCUSDT",
            side=Side.BUY,
            confidence=Decimal(rng.randrange(5000, 9999)) / 10000,
            reason="Momentum 3.2% over 5m with volume 2.1x the 1h average",
            price=price,
            strategy_params={"momentum_threshold": "3.0", "volume_factor": "2.0", "window": 5},
            correlation_id=trade_id,
            causation_id=md.event_id,
        )
        risk = factory.create_risk_decision(
            approved=True,
            reason="All risk checks passed",
            symbol="BTCUSDT",
            side=Side.BUY,
            position_size=Decimal("0.2"),
            stop_loss_price=price * Decimal("0.98"),
            risk_state={
                "equity": "100000",
                "daily_pnl": "-1000.0",
                "total_exposure_pct": "0.15",
                "open_positions": 2,
            },
            risk_checks={
                "daily_drawdown": {
                    "checked": True,
                    "passed": True,
                    "current_value": "-0.01",
                    "limit": "-0.05",
                },
                "max_exposure": {
                    "checked": True,
                    "passed": True,
                    "current_value": "0.15",
                    "limit": "0.50",
                },
            },
            correlation_id=trade_id,
            causation_id=sig.event_id,
        )
        for event in (md, sig, risk)[: count - made]:
            made += 1
            yield event


def batches(events: list[BaseEvent], size: int) -> list[list[BaseEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} ev/s"


def against(value: float, baseline: float, target: float, what: str) -> str:
    ratio = value / baseline
    return f"{ratio:.2f}x {what}, target >= {target}x: {verdict(ratio >= target)}"


# --- PostgreSQL ----------------------------------------------------------------------------
def planned_values(events: list[BaseEvent]) -> list[list[tuple[Any, ...]]]:
    """The exact column values our store would COPY, computed ahead (for the raw baseline)."""
    head = Head(0, "0" * 64)
    out = []
    for chunk in batches(events, BATCH):
        plan = plan_append(Batch.of(chunk), head, {}, set())
        out.append(row_values(plan.rows))
        head = Head(plan.rows[-1].sequence_number, plan.rows[-1].hash)
    return out


def raw_copy(url: str, chunks: list[list[tuple[Any, ...]]]) -> float:
    """Binary COPY of precomputed rows, one transaction per 1,000 rows, like our batches."""
    with PostgresEventStore(url, create=True):  # the full schema
        pass
    with psycopg.connect(url) as conn:
        conn.adapters.register_dumper(None, RawJsonbDumper)
        timer = Timer()
        for chunk in chunks:
            with conn.cursor() as cur, cur.copy(COPY_EVENTS) as copy:
                copy.set_types(COPY_TYPES)
                for row in chunk:
                    copy.write_row(row)
            conn.commit()
        return timer.seconds


def batched_append(store: EventStore, events: list[BaseEvent]) -> float:
    writer = EventWriter(store)
    timer = Timer()
    for chunk in batches(events, BATCH):
        writer.write(chunk)
    return timer.seconds


def single_appends(store: EventStore, events: list[BaseEvent]) -> list[float]:
    for event in events[:20]:  # warm the pool and the plan cache
        store.append(event)
    latencies = []
    for event in events[20:]:
        start = time.perf_counter()
        store.append(event)
        latencies.append(time.perf_counter() - start)
    return latencies


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
def sqlite_rows(events: list[BaseEvent]) -> list[list[tuple[Any, ...]]]:
    """The exact parameters SqliteEventStore inserts, computed ahead (for the raw baseline)."""
    head = Head(0, "0" * 64)
    out = []
    for chunk in batches(events, BATCH):
        plan = plan_append(Batch.of(chunk), head, {}, set())
        out.append([sqlite_row_values(r) for r in plan.rows])
        head = Head(plan.rows[-1].sequence_number, plan.rows[-1].hash)
    return out


def raw_sqlite_insert(path: Path, chunks: list[list[tuple[Any, ...]]]) -> float:
    open_store(f"sqlite:///{path}", create=True).close()  # the full schema, WAL
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    timer = Timer()
    for chunk in chunks:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(SQLITE_INSERT, chunk)
        db.execute("COMMIT")
    seconds = timer.seconds
    db.close()
    return seconds


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


def postgres_append(events: list[BaseEvent]) -> float:
    """Raw COPY vs EventWriter; returns our events per second."""
    n = len(events)
    heading(f"store: PostgreSQL batched append ({n:,} events, {BATCH:,} a batch)")
    payload = sum(len(orjson.dumps(e.payload)) for e in events) / n
    line("average payload size (JSON)", f"{payload:,.0f} bytes")
    chunks = planned_values(events)
    with throwaway_postgres() as url:
        copy_rate = n / raw_copy(url, chunks)
    line("raw binary COPY of the same rows, same table", f"{copy_rate:,.0f} ev/s", "baseline")
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        seconds = batched_append(store, events)
        line(
            "EventWriter.write (hash chain, gapless sequence)",
            rate(n, seconds),
            against(n / seconds, copy_rate, 0.6, "raw COPY"),
        )
        line(
            "  the same batches again (idempotent, stores nothing)",
            rate(n, batched_append(store, events)),
        )
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        store.optimistic = False
        checked = batched_append(store, events)
    line(
        "  looking up ids and causes before every insert",
        rate(n, checked),
        f"optimistic insert is {checked / seconds:.2f}x as fast",
    )
    return n / seconds


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


def sqlite_append(events: list[BaseEvent]) -> None:
    n = len(events)
    heading(f"store: SQLite batched append ({n:,} events, {BATCH:,} a batch)")
    with tempfile.TemporaryDirectory() as tmp:
        raw_seconds = raw_sqlite_insert(Path(tmp) / "raw.db", sqlite_rows(events))
        line("raw sqlite3 executemany of the same rows", rate(n, raw_seconds), "baseline")
        with open_store(f"sqlite:///{Path(tmp) / 'ours.db'}", create=True) as lite:
            seconds = batched_append(lite, events)
    line(
        "EventWriter.write (hash chain, gapless sequence)",
        rate(n, seconds),
        against(n / seconds, n / raw_seconds, 0.6, "raw insert"),
    )


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
    sqlite_append(events)
    peer(events, ours_append, ours_read)


if __name__ == "__main__":
    run()
