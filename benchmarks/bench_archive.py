"""Archive benchmark (issue 14 §5): every figure beside a baseline measured in the same run,
median of 3 rounds (min-max), subject and baseline interleaved.

- Seal from PostgreSQL to local Parquet (target >= 200,000 events/s). Baseline: the raw psycopg
  fetch of exactly what sealing reads (sequence, canonical, prev_hash, hash; binary, undecoded).
- Size: all segment files against the PostgreSQL table + its indexes (target <= 0.35x).
- Read: EventReader over PostgreSQL against the same events decoded from the archive (target:
  the archive at least as fast).
- 10,000,000 archived events, generated straight into segments (demo-day templates, see
  benchmarks/archive_data.py): `claire sql` decisions per symbol per month (target <= 3 s;
  baseline: the same aggregate straight on read_parquet), `claire prove` of one event with a
  fresh reader as the command has (target <= 200 ms; baseline: reading the row group that
  holds it), `verify --proof` (target <= 100 ms; baseline: the manifest's Ed25519 check).
- Memory while sealing and reading: RSS growth, sampled, for the whole log and a quarter of it.

`CLAIRE_BENCH_SCALE=0.1` for a quick look.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import orjson
import psutil
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.archive_data import RawRows, chained_rows, demo_templates
from benchmarks.common import heading, line, scaled, throwaway_postgres, verdict
from claire.archive.location import Location, open_location
from claire.archive.proof import check_bundle, encode_bundle, make_bundle, sequences_of
from claire.archive.reader import ArchiveReader
from claire.archive.rows import ROW_GROUP_ROWS, Engine
from claire.archive.seal import SEGMENT_EVENTS, SegmentWriter, seal
from claire.archive.sealed import archived_events
from claire.archive.sql import run_sql
from claire.audit.keys import TrustedKey, public_hex, signature_problem
from claire.events.codec import GENESIS_HASH, decode_event
from claire.gc_tuning import SEAL_ARENAS, limit_malloc_arenas
from claire.store import open_store
from claire.store.port import RawPage

PG_EVENTS = 1_000_000
BIG_EVENTS = 10_000_000
ROUNDS = 3
PROOFS = 20
SQL = (
    "SELECT symbol, date_trunc('month', timestamp_utc) AS month, count(*) AS decisions"
    " FROM events WHERE event_type = 'risk_decision' GROUP BY ALL ORDER BY ALL"
)
RAW_SQL = (
    "SELECT symbol, date_trunc('month', timestamp_utc) AS month, count(*) AS decisions"
    " FROM read_parquet({files}) WHERE event_type = 'risk_decision' GROUP BY ALL ORDER BY ALL"
)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


class RssPeak:
    """Peak RSS growth of this process while a block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def load_postgres(url: str, count: int) -> None:
    """The generated log appended through the store (1,000-event batches), as a recorder would."""
    with open_store(url, create=True) as store:
        for chunk in chained_rows(count):
            events = [decode_event(c) for c in chunk.canonical]
            for start in range(0, len(events), 1000):
                store.append(events[start : start + 1000])


def raw_fetch(url: str, count: int) -> float:
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        cursor = 1
        while cursor <= count:
            rows = conn.execute(
                "SELECT sequence_number, canonical, prev_hash, hash FROM events"
                " WHERE sequence_number >= %s ORDER BY sequence_number LIMIT %s",
                (cursor, ROW_GROUP_ROWS),
                binary=True,
            ).fetchall()
            if not rows:
                break
            cursor = rows[-1][0] + 1
        return time.perf_counter() - start


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def postgres_part(key: Ed25519PrivateKey, work: Path) -> None:
    count = scaled(PG_EVENTS)
    heading(f"archive: seal {count:,} events from PostgreSQL to local Parquet")
    # As `claire archive seal` runs (it caps malloc arenas; the reads below run so too).
    capped = limit_malloc_arenas()
    with throwaway_postgres("claire_bench_archive") as url:
        load_postgres(url, count)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE events")
            row = conn.execute("SELECT pg_total_relation_size('events')").fetchone()
            pg_bytes = int(row[0]) if row else 0
        seal_rates, fetch_rates, read_pg, read_archive = [], [], [], []
        growth: list[float] = []
        archive_bytes = 0
        for round_ in range(ROUNDS):
            fetch_rates.append(count / raw_fetch(url, count))
            target = work / f"pg-{round_}"
            with open_store(url) as store, RssPeak() as rss:
                start = time.perf_counter()
                seal(store, open_location(str(target)), count, key)
                seal_rates.append(count / (time.perf_counter() - start))
            growth.append(rss.growth_mb)
            archive_bytes = directory_bytes(target)
            with open_store(url) as store:
                start = time.perf_counter()
                n = sum(1 for _ in store.read())
                read_pg.append(n / (time.perf_counter() - start))
            reader = ArchiveReader(open_location(str(target)))
            start = time.perf_counter()
            n = sum(1 for _ in archived_events(reader, 1, count))
            read_archive.append(n / (time.perf_counter() - start))
    line("raw fetch of what sealing reads (baseline)", f"{median(fetch_rates)} ev/s", "baseline")
    seal_median = statistics.median(seal_rates)
    line(
        "claire archive seal (PostgreSQL -> Parquet)",
        f"{median(seal_rates)} ev/s",
        f"target >= 200,000: {verdict(seal_median >= 200_000)}",
    )
    ratio = archive_bytes / pg_bytes if pg_bytes else float("nan")
    line("PostgreSQL table + indexes", f"{pg_bytes / 2**20:,.1f} MB", "baseline")
    line(
        "archive segments (Parquet, tree, index)",
        f"{archive_bytes / 2**20:,.1f} MB",
        f"{ratio:.3f}x, target <= 0.35: {verdict(ratio <= 0.35)}",
    )
    line("read + decode from PostgreSQL (EventReader)", f"{median(read_pg)} ev/s", "baseline")
    faster = statistics.median(read_archive) >= statistics.median(read_pg)
    line(
        "read + decode from the archive",
        f"{median(read_archive)} ev/s",
        f"target >= PostgreSQL: {verdict(faster)}",
    )
    arenas = f"malloc arenas capped at {SEAL_ARENAS}" if capped else "malloc arenas not capped"
    line("RSS growth while sealing", f"{max(growth):,.0f} MB", f"max of rounds; {arenas}")


def generate(location: Location, count: int, key: Ed25519PrivateKey) -> list[str]:
    """`count` chained events straight into segments; returns a sample of their ids."""
    engine = Engine()
    templates = demo_templates()
    sample: list[str] = []
    rng = random.Random(11)
    writer: SegmentWriter | None = None
    prev = GENESIS_HASH
    first = 1

    def flush(rows: RawRows) -> None:
        nonlocal writer, prev, first
        at = 0
        while at < len(rows.sequence):
            if writer is None:
                last = min(first + SEGMENT_EVENTS - 1, count)
                writer = SegmentWriter(location, engine, first, last, prev, key)
            room = writer.last_sequence - rows.sequence[at] + 1
            take = slice(at, at + min(room, ROW_GROUP_ROWS))
            writer.add(
                RawPage(
                    rows.sequence[take], rows.canonical[take], rows.prev_hash[take], rows.hash[take]
                )
            )
            at = take.stop
            if rows.sequence[at - 1] == writer.last_sequence:
                manifest = writer.finish()
                prev, first, writer = manifest.last_hash, manifest.last_sequence + 1, None

    for chunk in chained_rows(count, templates=templates):
        picked = chunk.canonical[rng.randrange(len(chunk.canonical))]
        sample.append(orjson.loads(picked)["event_id"])
        flush(chunk)
    engine.close()
    return rng.sample(sample, min(PROOFS, len(sample)))


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def one_proof(archive: Path, event_id: UUID, trusted: TrustedKey) -> tuple[float, ...]:
    """(baseline row group, prove, verify --proof, baseline signature) in milliseconds."""
    start = time.perf_counter()
    reader = ArchiveReader(open_location(str(archive)))  # fresh, as a command starts
    reader.segment(reader.catalog.segments[0]).read_group(0, ["sequence_number", "canonical"])
    group = time.perf_counter()
    reader = ArchiveReader(open_location(str(archive)))
    data = encode_bundle(make_bundle(reader, sequences_of(reader, "event_id", event_id)))
    proved = time.perf_counter()
    report = check_bundle(data, trusted)
    checked = time.perf_counter()
    assert report.ok, report.problems
    signature_problem(reader.catalog.segments[0].statement, trusted)
    signed = time.perf_counter()
    return tuple(
        1000 * t for t in (group - start, proved - group, checked - proved, signed - checked)
    )


def big_part(key: Ed25519PrivateKey, work: Path) -> None:
    count = scaled(BIG_EVENTS)
    heading(f"archive: {count:,} archived events (generated straight into segments)")
    location = open_location(str(work / "big"))
    start = time.perf_counter()
    ids = generate(location, count, key)
    line("generating the segments", f"{time.perf_counter() - start:,.0f} s", "setup")
    files = [location.path(m.data.name) for m in ArchiveReader(location).catalog.segments]
    raw_query = RAW_SQL.format(files="[" + ", ".join(f"'{f}'" for f in files) + "]")
    sql_ms, raw_ms = [], []
    import duckdb

    for _ in range(ROUNDS):
        raw_ms.append(timed(lambda: duckdb.connect().execute(raw_query).fetchall()))
        sql_ms.append(timed(lambda: run_sql(None, open_location(str(work / "big")), SQL)))
    line("DuckDB on read_parquet, no view (baseline)", f"{median(raw_ms)} ms", "baseline")
    line(
        "claire sql: decisions per symbol per month",
        f"{median(sql_ms)} ms",
        f"target <= 3,000: {verdict(statistics.median(sql_ms) <= 3000)}",
    )
    trusted = TrustedKey(public_hex(key), "bench")
    prove_ms, group_ms, check_ms, sign_ms = [], [], [], []
    for event_id in ids:
        times = one_proof(work / "big", UUID(event_id), trusted)
        group_ms.append(times[0])
        prove_ms.append(times[1])
        check_ms.append(times[2])
        sign_ms.append(times[3])
    line("read one row group of canonical bytes (baseline)", f"{median(group_ms)} ms", "baseline")
    line(
        f"claire prove, one event (p50 of {len(ids)})",
        f"{median(prove_ms)} ms",
        f"max {max(prove_ms):,.0f}; target <= 200: {verdict(statistics.median(prove_ms) <= 200)}",
    )
    line("Ed25519 check of one manifest (baseline)", f"{median(sign_ms)} ms", "baseline")
    line(
        "verify --proof, one event",
        f"{median(check_ms)} ms",
        f"target <= 100: {verdict(statistics.median(check_ms) <= 100)}",
    )
    for share, label in ((4, "a quarter of"), (1, "all of")):
        last = count // share
        with RssPeak() as rss:
            reader = ArchiveReader(location)
            sum(1 for _ in archived_events(reader, 1, last))
        line(f"RSS growth reading {label} the archive", f"{rss.growth_mb:,.0f} MB", f"{last:,} ev")


def run() -> None:
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="claire-bench-archive-") as tmp:
        postgres_part(key, Path(tmp))
        big_part(key, Path(tmp))


if __name__ == "__main__":
    run()
