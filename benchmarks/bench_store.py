"""Store benchmark: every figure beside a baseline measured in the same run.

Each figure is the median of three runs (min-max beside it), subjects and baselines interleaved.
Appends (benchmarks/store_appends.py): a binary COPY of the very rows our store writes, same
table and chain guard, same transactions of 1,000; SQLite likewise, durable commits as ours.
Reads: the baseline is the reader's own queries (`range_pages`: same rows, columns, pages and
protocol), undecoded, with a COPY ... TO STDOUT (FORMAT BINARY) of the same two columns beside
it; a wide `SELECT *` over the text protocol is shown for context only, never as a denominator.
PostgreSQL reads run on a table just written and never analysed (as after a busy day, a bulk
load or a restore: autovacuum is off for it), then again after VACUUM ANALYZE. The peer, the
`eventsourcing` library, stores and reads the same events on the same table size, with its
defaults and with its fastest documented settings. `CLAIRE_BENCH_SCALE=0.1` for a quick look.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg

from benchmarks import peer
from benchmarks.baselines import copy_binary_rate, fetch_rate, per_second, text_fetch_rate
from benchmarks.common import (
    Figure,
    Timer,
    against,
    heading,
    interleaved,
    line,
    percentile,
    scaled,
    throwaway_postgres,
    verdict,
)
from benchmarks.store_appends import (
    ours_postgres,
    postgres_append,
    single_appends,
    sqlite_append,
)
from benchmarks.store_events import BATCH, batches, decision_chains
from claire.events import BaseEvent
from claire.events.codec import decode_rows
from claire.store import EventReader, EventStore
from claire.store.postgres import PostgresEventStore
from claire.store.sqlite import SqliteEventStore

READ_TARGET = 0.4  # EventReader on PostgreSQL, times the fair fetch
SQLITE_READ_TARGET = 0.3
FRESH_TARGET = 0.9  # "as fast on a fresh table": within run-to-run noise of the analysed figure


def rate(figure: Figure) -> str:
    return figure.show("ev/s")


# --- single appends and the peer's appends -------------------------------------------------
def single_latencies(events: list[BaseEvent], warm: list[BaseEvent]) -> list[float]:
    with throwaway_postgres() as url, PostgresEventStore(url, create=True) as store:
        store.append(warm)
        return [seconds * 1000 for seconds in single_appends(store, events)]


def postgres_single(events: list[BaseEvent], warm: list[BaseEvent]) -> None:
    heading(f"store: PostgreSQL single-event durable append ({len(events) - 20:,} appends, x3)")
    runs = [single_latencies(events, warm) for _ in range(3)]
    p50 = Figure(tuple(percentile(r, 50) for r in runs))
    p99 = Figure(tuple(percentile(r, 99) for r in runs))
    line("p50 latency", p50.show("ms", 2))
    line("p99 latency", p99.show("ms", 2), f"target <= 2 ms: {verdict(p99.median <= 2.0)}")
    line("max latency", f"{max(max(r) for r in runs):.2f} ms")


def peer_append(events: list[BaseEvent], setting: str) -> float:
    with throwaway_postgres("claire_bench_peer") as url:
        app = peer.peer_app(url, setting)
        count, seconds = peer.save(app, batches(events, BATCH))
        app.close()
    return per_second(count, seconds, len(events))


def peer_lines(what: str, ours: Figure, figures: dict[str, Figure]) -> None:
    """The peer's figure in each of its settings, and how far ahead of it ours is."""
    for setting in peer.SETTINGS:
        theirs = figures[setting]
        line(
            f"eventsourcing, {setting}: {what}",
            rate(theirs),
            f"ours {ours.ratio(theirs):.2f}x (ahead: {verdict(ours.median > theirs.median)})",
        )


def peer_appends(events: list[BaseEvent]) -> None:
    """Our EventWriter and the peer in both settings, interleaved, each on a fresh table."""
    n = len(events)
    heading(f"store: batched append against the peer ({n:,} events, fresh tables)")
    subjects: dict[str, Callable[[], float]] = {"ours": lambda: n / ours_postgres(events)}
    for setting in peer.SETTINGS:
        subjects[setting] = partial(peer_append, events, setting)
    figures = interleaved(subjects)
    line("EventWriter.write (hash chain, gapless, chain guard)", rate(figures["ours"]))
    peer_lines("1,000 events a save", figures["ours"], figures)


# --- reads ---------------------------------------------------------------------------------
def reader_rate(store: EventStore, expected: int) -> float:
    timer, count = Timer(), 0
    for event in EventReader(store).read_events(from_sequence=1, to_sequence=None, limit=None):
        count += event.sequence_number is not None
    return per_second(count, timer.seconds, expected)


def decode_alone_rate(store: PostgresEventStore | SqliteEventStore, expected: int) -> float:
    """The reader's decoding of the fetched bytes, timed without the fetch (context)."""
    seconds, count = 0.0, 0
    for rows in store.range_pages():
        timer = Timer()
        for _ in decode_rows(rows):
            count += 1
        seconds += timer.seconds
    return per_second(count, seconds, expected)


def orjson_alone_rate(store: PostgresEventStore, expected: int) -> float:
    seconds, count = 0.0, 0
    for rows in store.range_pages():
        timer = Timer()
        for _, data in rows:
            orjson.loads(data)
        seconds += timer.seconds
        count += len(rows)
    return per_second(count, seconds, expected)


def sqlite_wide_fetch_rate(path: Path, expected: int) -> float:
    """Context only: every column of every row."""
    db = sqlite3.connect(path)
    timer, count = Timer(), 0
    cursor = db.execute("SELECT * FROM events ORDER BY sequence_number")
    while rows := cursor.fetchmany(5000):
        count += len(rows)
    seconds = timer.seconds
    db.close()
    return per_second(count, seconds, expected)


def populate(
    store: EventStore, lite: EventStore, apps: dict[str, Any], n: int, n_sqlite: int
) -> None:
    """The same events, 1,000 a batch, into ours, the first `n_sqlite` into SQLite, and into
    each peer application (one aggregate of 1,000 events per save)."""
    chunk: list[BaseEvent] = []
    done = 0
    for event in decision_chains(n, seed=3):
        chunk.append(event)
        if len(chunk) == BATCH or done + len(chunk) == n:
            store.append(chunk)
            if done < n_sqlite:
                lite.append(chunk[: n_sqlite - done])
            for app in apps.values():
                peer.save(app, [chunk])
            done += len(chunk)
            chunk = []


def peer_read_rate(app: Any, expected: int) -> float:
    return per_second(*peer.read_all(app), expected)


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


def never_analysed(url: str) -> bool:
    rows = sql(
        url,
        "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables"
        " WHERE relname = 'events'",
    )
    return bool(rows and rows[0][0])


def postgres_reads(url: str, store: PostgresEventStore, apps: dict[str, Any], n: int) -> None:
    heading(f"store: PostgreSQL sequential read into BaseEvent ({n:,} events)")
    fetch_rate(store.range_pages(), n)  # the first reader of new rows sets their hint bits
    fresh_table = never_analysed(url)
    fresh = interleaved(
        {
            "fair": lambda: fetch_rate(store.range_pages(), n),
            "reader": lambda: reader_rate(store, n),
        }
    )
    sql(url, "VACUUM ANALYZE events")
    subjects: dict[str, Callable[[], float]] = {
        "fair": lambda: fetch_rate(store.range_pages(), n),
        "copy": lambda: copy_binary_rate(url, n),
        "reader": lambda: reader_rate(store, n),
        "decode": lambda: decode_alone_rate(store, n),
    }
    for setting, app in apps.items():
        subjects[setting] = partial(peer_read_rate, app, n)
    analysed = interleaved(subjects)
    fair, reader = analysed["fair"], analysed["reader"]
    line("fair fetch: the reader's queries, binary, undecoded", rate(fair), "baseline")
    line("COPY (sequence_number, canonical) TO STDOUT binary", rate(analysed["copy"]), "baseline")
    line(
        "EventReader.read_events -> BaseEvent",
        rate(reader),
        against(reader, fair, READ_TARGET, "fair fetch")
        + f"; {reader.ratio(analysed['copy']):.2f}x COPY",
    )
    line("  decoding alone (fetch time left out)", rate(analysed["decode"]), "context")
    line("  orjson.loads of the same bytes alone", rate(Figure((orjson_alone_rate(store, n),))))
    line(
        "  SELECT * over the text protocol (context only)",
        rate(Figure((text_fetch_rate(url, n),))),
        "not a baseline: more columns, text",
    )
    where = "fresh, never analysed" if fresh_table else "fresh (autovacuum analysed it)"
    line(f"{where}: fair fetch", rate(fresh["fair"]), f"{fresh['fair'].ratio(fair):.2f}x analysed")
    ratio = fresh["reader"].ratio(reader)
    line(
        f"{where}: EventReader.read_events",
        rate(fresh["reader"]),
        f"{ratio:.2f}x analysed; as fast (>= {FRESH_TARGET}x): {verdict(ratio >= FRESH_TARGET)}",
    )
    peer_lines("notification log, decoded", reader, analysed)


def sqlite_reads(lite: SqliteEventStore, path: Path, n: int) -> None:
    heading(f"store: SQLite sequential read into BaseEvent ({n:,} events)")
    figures = interleaved(
        {"fair": lambda: fetch_rate(lite.range_pages(), n), "reader": lambda: reader_rate(lite, n)}
    )
    fair, reader = figures["fair"], figures["reader"]
    line("fair fetch: the reader's queries, undecoded", rate(fair), "baseline")
    line(
        "EventReader.read_events -> BaseEvent",
        rate(reader),
        against(reader, fair, SQLITE_READ_TARGET, "fair fetch"),
    )
    line(
        "  SELECT * (context only)",
        rate(Figure((sqlite_wide_fetch_rate(path, n),))),
        "not a baseline: more columns",
    )


def sequential_reads(n_read: int, n_sqlite: int) -> None:
    """One PostgreSQL table of `n_read` events, the peers' tables of the same size, and the
    first `n_sqlite` of the same events in SQLite."""
    with (
        throwaway_postgres() as url,
        throwaway_postgres("claire_bench_peer") as peer_defaults,
        throwaway_postgres("claire_bench_peer") as peer_fast,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "read.db"
        with (
            PostgresEventStore(url, create=True) as store,
            SqliteEventStore(f"sqlite:///{path}", create=True) as lite,
        ):
            sql(url, "ALTER TABLE events SET (autovacuum_enabled = false)")
            apps = {
                setting: peer.peer_app(peer_url, setting)
                for setting, peer_url in zip(peer.SETTINGS, (peer_defaults, peer_fast), strict=True)
            }
            heading(
                f"store: read tables of {n_read:,} events (ours and the peer's, twice, on "
                f"PostgreSQL), {n_sqlite:,} of them on SQLite"
            )
            timer = Timer()
            populate(store, lite, apps, n_read, n_sqlite)
            line("populate them", f"{timer.seconds:,.1f} s", "(setup, not a figure)")
            postgres_reads(url, store, apps, n_read)
            for app in apps.values():
                app.close()
            sqlite_reads(lite, path, n_sqlite)


def run() -> None:
    n_append, n_single, n_read = scaled(100_000), scaled(2_000), scaled(1_000_000)
    events = list(decision_chains(n_append, seed=1))
    singles = list(decision_chains(n_single + 20, seed=2))
    postgres_append(events)
    postgres_single(singles, events[: min(3000, n_append)])
    peer_appends(events)
    sequential_reads(n_read, min(n_read, scaled(200_000)))
    sqlite_append(events, singles)


if __name__ == "__main__":
    run()
