"""Recording through the reference pipeline, end to end, beside the store's own append rate.

1. PostgreSQL: `record_demo` (synthetic bars -> market_data events -> signal/risk/execution ->
   batched appends -> snapshots) in events/s, next to appending the very same events in the
   same batch size to a fresh database (the store's own batched append rate). Target: >= 10,000
   events/s end to end.
2. `claire demo` on the embedded SQLite default, as a user runs it (a subprocess, from
   interpreter start to exit), next to the SQLite store appending the same events. Target:
   <= 10 s wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Timer, heading, line, scaled, throwaway_postgres, verdict
from claire.events.model import BaseEvent
from claire.pipeline import PipelineConfig, record_demo
from claire.pipeline.sessions import DEMO_BARS_PER_SYMBOL
from claire.store import EventStore, open_store

PG_TARGET_EVENTS_PER_SECOND = 10_000
DEMO_TARGET_SECONDS = 10.0


def run() -> None:
    heading("pipeline: recording through the reference pipeline")
    bench_postgres()
    bench_demo()


def _append_all(store: EventStore, events: list[BaseEvent], batch_size: int) -> float:
    timer = Timer()
    for start in range(0, len(events), batch_size):
        store.append(events[start : start + batch_size])
    return timer.seconds


def _fresh_copies(events: list[BaseEvent]) -> list[BaseEvent]:
    """The stored events as a producer would hand them over (no sequence numbers, no cache)."""
    return [
        BaseEvent.model_validate(e.model_dump()).model_copy(update={"sequence_number": None})
        for e in events
    ]


def bench_postgres() -> None:
    bars = scaled(DEMO_BARS_PER_SYMBOL * 2)  # two days' worth of bars in one session
    batch = PipelineConfig().session.batch_size
    with throwaway_postgres("claire_bench_pipeline") as url, open_store(url, create=True) as store:
        store.migrate()
        timer = Timer()
        result = record_demo(store, bars_per_symbol=bars)
        seconds = timer.seconds
        events = _fresh_copies(list(store.read()))
    with (
        throwaway_postgres("claire_bench_pipeline_raw") as url,
        open_store(url, create=True) as store,
    ):
        store.migrate()
        raw_seconds = _append_all(store, events, batch)
    rate = result.total_events / seconds
    raw_rate = len(events) / raw_seconds
    line("events recorded (3 symbols)", f"{result.total_events:,}")
    line(
        "store only: batched append, same events",
        f"{raw_rate:,.0f} ev/s",
        f"(batches of {batch:,}; baseline)",
    )
    line(
        "pipeline end to end into PostgreSQL",
        f"{rate:,.0f} ev/s",
        f"{rate / raw_rate:.2f}x the store's rate; target >= {PG_TARGET_EVENTS_PER_SECOND:,}/s: "
        f"{verdict(rate >= PG_TARGET_EVENTS_PER_SECOND)}",
    )


def bench_demo() -> None:
    claire = Path(sys.executable).with_name("claire")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with tempfile.TemporaryDirectory(prefix="claire-demo-bench-") as directory:
        timer = Timer()
        completed = subprocess.run(
            [str(claire), "demo", "--json"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = timer.seconds
        if completed.returncode != 0:
            line("claire demo", "FAILED", completed.stderr.strip().splitlines()[-1])
            return
        with open_store(f"sqlite:///{directory}/claire_events.db", create=True) as store:
            events = _fresh_copies(list(store.read()))
        with open_store(f"sqlite:///{directory}/baseline.db", create=True) as store:
            raw_seconds = _append_all(store, events, PipelineConfig().session.batch_size)
    line(
        "store only: SQLite batched append, same events",
        f"{raw_seconds:.2f} s",
        f"({len(events):,} events; baseline)",
    )
    line(
        "claire demo on SQLite (process start to exit)",
        f"{seconds:.2f} s",
        f"{seconds / raw_seconds:.1f}x the append alone; target <= {DEMO_TARGET_SECONDS:.0f} s: "
        f"{verdict(seconds <= DEMO_TARGET_SECONDS)}",
    )
