"""Ready-made sessions: the demo day on synthetic data, and a CSV file for one symbol.

Each continues the store: the state is rebuilt from it, a demo session trades the day after the
last recorded market data (seeded by that date, starting from the last prices), and session
ids derive from the inputs and the store's head, so re-running never reuses a trade id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from claire.errors import StoreError
from claire.pipeline.config import PipelineConfig
from claire.pipeline.csv_source import CsvFormat, CsvRows, MarketDataError, read_csv_rows
from claire.pipeline.overlap import stored_overlap
from claire.pipeline.pipeline import Pipeline, reference_pipeline
from claire.pipeline.recorder import (
    Progress,
    SessionRecorder,
    SessionResult,
    SessionSpec,
    rebuild,
    session_id_for,
)
from claire.pipeline.synthetic import SOURCE, SyntheticMarket
from claire.state.snapshots import StartingPoint
from claire.store.locks import recording_lock
from claire.store.port import EventStore

DEMO_FIRST_DAY = date(2025, 2, 14)
DEMO_INTERVAL = timedelta(seconds=10)
DEMO_BARS_PER_SYMBOL = int(timedelta(days=1) / DEMO_INTERVAL)  # one trading day of 10 s bars


def demo_market(day: date, bars_per_symbol: int = DEMO_BARS_PER_SYMBOL) -> SyntheticMarket:
    seed = int(day.strftime("%Y%m%d"))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return SyntheticMarket(seed, start, bars_per_symbol, DEMO_INTERVAL)


def record_demo(
    store: EventStore,
    config: PipelineConfig | None = None,
    *,
    pipeline: Pipeline | None = None,
    bars_per_symbol: int = DEMO_BARS_PER_SYMBOL,
    progress: Progress | None = None,
    verify_snapshot: bool = False,
) -> SessionResult:
    """Record one synthetic trading day (three symbols) after whatever the store holds."""
    with recording_lock(store.url):  # the day and the state it continues are read under it
        origin = rebuild(store, verify_snapshot=verify_snapshot)
        pipeline = pipeline or reference_pipeline(config)
        return _record_demo(store, pipeline, origin, bars_per_symbol, progress)


def _record_demo(
    store: EventStore,
    pipeline: Pipeline,
    origin: StartingPoint,
    bars_per_symbol: int,
    progress: Progress | None,
) -> SessionResult:
    state = origin.state
    day = DEMO_FIRST_DAY
    if state.day is not None:
        if date.fromisoformat(state.day) == date.max:  # stored before future times were refused
            raise StoreError(
                f"the store's market data ends on {state.day}: there is no day after it to "
                "record a demo day on (start a new store)"
            )
        day = date.fromisoformat(state.day) + timedelta(days=1)
    market = demo_market(day, bars_per_symbol).with_start_prices(state.last_prices)
    head = store.head().sequence_number
    session = SessionSpec(
        session_id_for("demo", day.isoformat(), head),
        SOURCE,
        {
            "kind": "demo",
            "day": day.isoformat(),
            "seed": market.seed,
            "symbols": [s.symbol for s in market.symbols],
            "bar_seconds": int(market.interval.total_seconds()),
            "bars_per_symbol": market.bars_per_symbol,
        },
    )
    recorder = SessionRecorder(store, pipeline, progress=progress)
    return recorder.record(session, market.bars(), market.total_bars, origin=origin)


def record_csv(
    store: EventStore,
    path: str | Path,
    symbol: str,
    *,
    fmt: CsvFormat | str = CsvFormat.BARS,
    columns: Mapping[str, str] | None = None,
    config: PipelineConfig | None = None,
    pipeline: Pipeline | None = None,
    progress: Progress | None = None,
    append_overlap: bool = False,
    verify_snapshot: bool = False,
    rows: CsvRows | None = None,
) -> SessionResult:
    """Record a CSV file for one symbol. The whole file is checked before anything is stored,
    and so is the store: bars it holds already for the symbol and time are refused (see
    claire.pipeline.overlap) unless `append_overlap`. `rows`: the file as `read_csv_rows`
    read it already (a caller that checks the file before it creates the store)."""
    if rows is None:
        rows = read_csv_rows(path, symbol, fmt=fmt, columns=columns)
    file = Path(path)
    pipeline = pipeline or reference_pipeline(config)
    with recording_lock(store.url):
        overlap = stored_overlap(store, symbol, rows)
        if overlap is not None and not append_overlap:
            raise MarketDataError(overlap.message(file))
        session = _csv_session(file, symbol, fmt, rows, store.head().sequence_number)
        if overlap is not None:  # recorded knowingly: the session says how many bars repeat
            session.parameters["overlapping_bars"] = overlap.bars
        recorder = SessionRecorder(store, pipeline, progress=progress)
        origin = rebuild(store, verify_snapshot=verify_snapshot)
        return recorder.record(session, rows.bars, len(rows.bars), origin=origin)


def _csv_session(
    file: Path, symbol: str, fmt: CsvFormat | str, rows: CsvRows, head: int
) -> SessionSpec:
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    return SessionSpec(
        session_id_for("csv", symbol, digest, head),
        f"csv:{file.name}",
        {
            "kind": "csv",
            "file": file.name,
            "sha256": digest,
            "symbol": symbol,
            "format": CsvFormat(fmt).value,
            "rows": len(rows.bars),
        },
    )
