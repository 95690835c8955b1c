"""Replay benchmark: every figure beside a baseline measured in the same run.

- Full replay (read + decode + fold) of a 1,000,000-event log on PostgreSQL vs the fair fetch
  of the same rows: the replay's own queries (same pages, two columns, binary protocol),
  undecoded, and a binary COPY of the same columns beside it; median of three runs, interleaved.
  The same replay with the collector relaxed (`relaxed_gc`, opt-in for entry points) beside it.
- Snapshot-based replay of the last 10,000 events at 100,000 and at 1,000,000 events.
- Decision re-execution of a recorded 100,000-event pipeline session.
- Peak RSS of a 1,000,000-event replay vs a 100,000-event replay, each in its own process.

The log is built through the store in 1,000-event batches (market data with trades mixed in,
about one event in ten a decision), with a `state_snapshot` every 1,000 events whose hash is
the fold of the log up to it, exactly as the recorder writes them.
`CLAIRE_BENCH_SCALE=0.05` for a quick look.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path

from benchmarks.baselines import copy_binary_rate, fetch_rate, text_fetch_rate
from benchmarks.common import (
    Timer,
    against,
    heading,
    interleaved,
    line,
    scaled,
    throwaway_postgres,
    verdict,
)
from claire.events import BaseEvent, EventFactory, LogicalClock, Side
from claire.gc_tuning import relaxed_gc
from claire.pipeline import PipelineConfig, SessionRecorder, SessionSpec, SyntheticMarket
from claire.pipeline.pipeline import reference_pipeline
from claire.pipeline.recorder import session_id_for
from claire.replay import ReplayEngine, SystemState
from claire.replay.reexecute import reexecute
from claire.state.model import SESSION_STARTED
from claire.store import EventStore, open_store
from claire.store.postgres import PostgresEventStore

BATCH = 1000
SNAPSHOT_EVERY = 1000
START = datetime(2025, 2, 14, tzinfo=UTC)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
BASE_PRICE = {"BTCUSDT": Decimal(50000), "ETHUSDT": Decimal(2700), "SOLUSDT": Decimal(190)}
TRADE_EVERY = 25  # inputs between trade actions (an open or a close) on a symbol
REPLAY_TARGET = 0.3  # full replay, times the fair fetch of the same rows


class LogBuilder:
    """Appends a realistic log to a store, folding it as it goes to write true snapshots."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        moments = (START + timedelta(seconds=i) for i in count())
        ids = (uuid.UUID(int=i, version=4) for i in count(1))
        self.factory = EventFactory(
            "bench-market",
            "1.0.0",
            clock=LogicalClock(),
            now=lambda: next(moments),
            new_id=lambda: next(ids),
        )
        self.state = SystemState()
        self.session = uuid.uuid4()
        self.inputs = 0
        self.holding: dict[str, bool] = {}  # symbols with an open position, as generated
        self.pending: list[BaseEvent] = [
            self.factory.create_alert(
                level="INFO",
                code=SESSION_STARTED,
                message="benchmark session",
                context={"starting_equity": "100000"},
                correlation_id=self.session,
            )
        ]

    def grow_to(self, total: int) -> None:
        while self.store.head().sequence_number + len(self.pending) < total:
            while len(self.pending) < BATCH:
                self.pending.extend(self._next_input())
            batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
            self._store(batch)
            if self.store.head().sequence_number % SNAPSHOT_EVERY == 0:
                self.pending.insert(0, self._snapshot())
        if self.pending:
            self._store(self.pending[: total - self.store.head().sequence_number])
            self.pending = []

    def _store(self, batch: list[BaseEvent]) -> None:
        if not batch:
            return
        sequences = self.store.append(batch)
        for event in batch:
            self.state.apply(event)
        self.state.last_sequence = sequences[-1]

    def _snapshot(self) -> BaseEvent:
        return self.factory.create_state_snapshot(
            at_sequence=self.state.last_sequence,
            state=self.state.to_document(),
            state_hash=self.state.hash(),
            correlation_id=self.session,
        )

    def _next_input(self) -> list[BaseEvent]:
        i = self.inputs
        self.inputs += 1
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = BASE_PRICE[symbol] * (1 + Decimal((i * 7919) % 400 - 200) / 10000)
        trade = uuid.UUID(int=(i + 1) << 64, version=4)
        f = self.factory
        md = f.create_market_data(
            symbol=symbol, price=price, volume=Decimal(3 + i % 11), correlation_id=trade
        )
        if (i // len(SYMBOLS)) % TRADE_EVERY:
            return [md]
        # Open or close, alternately per symbol.
        if self.holding.pop(symbol, False):
            return [md, *self._close(md, symbol, price)]
        self.holding[symbol] = True
        return [md, *self._open(md, symbol, price)]

    def _open(self, md: BaseEvent, symbol: str, price: Decimal) -> list[BaseEvent]:
        f, trade = self.factory, md.correlation_id
        order_id = f"{symbol}-{md.timestamp_logical}"
        order = f.create_order_request(
            order_id=order_id,
            symbol=symbol,
            side=Side.BUY,
            size="0.1",
            correlation_id=trade,
            causation_id=md.event_id,
        )
        fill = f.create_order_result(
            order_id=order_id,
            symbol=symbol,
            side=Side.BUY,
            status="FILLED",
            filled_size="0.1",
            average_price=price,
            fee=(price * Decimal("0.0001")).quantize(Decimal("0.0001")),
            correlation_id=trade,
            causation_id=order.event_id,
        )
        update = f.create_position_update(
            symbol=symbol,
            side=Side.BUY,
            status="OPENED",
            size="0.1",
            entry_price=price,
            stop_loss_price=(price * Decimal("0.98")).quantize(Decimal("0.01")),
            correlation_id=trade,
            causation_id=fill.event_id,
        )
        return [order, fill, update]

    def _close(self, md: BaseEvent, symbol: str, price: Decimal) -> list[BaseEvent]:
        update = self.factory.create_position_update(
            symbol=symbol,
            side=Side.BUY,
            status="CLOSED",
            size="0",
            entry_price=price,
            realized_pnl=Decimal("1.25"),
            correlation_id=md.correlation_id,
            causation_id=md.event_id,
        )
        return [update]


# --- measurements ------------------------------------------------------------------------------
def full_replay_rate(store: EventStore, n: int, *, relaxed: bool = False) -> float:
    """Read + decode + fold of 1..n without snapshots; optionally with the collector relaxed
    (`relaxed_gc`, what an entry point may opt into)."""
    with relaxed_gc() if relaxed else nullcontext():
        result = ReplayEngine(store, use_snapshots=False).replay(1, n)
    if result.events_folded != n:
        raise AssertionError(f"folded {result.events_folded:,} of {n:,} events")
    return result.events_per_second


def tail_replay_seconds(store: EventStore, last: int, repeats: int = 5) -> tuple[float, int]:
    """Median seconds of a snapshot-based replay of the last `last` events; events folded."""
    head = store.head().sequence_number
    engine = ReplayEngine(store)
    times, folded = [], 0
    for _ in range(repeats):
        result = engine.replay(head - last + 1, head)
        assert result.snapshot is not None, "the tail replay found no snapshot"
        times.append(result.elapsed_seconds)
        folded = result.events_folded
    return statistics.median(times), folded


# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the forked parent,
# so a child of a benchmark process holding a million events would report the parent's size.
RSS_SCRIPT = """
import re, sys
from claire.replay import ReplayEngine
from claire.store import open_store
with open_store(sys.argv[1]) as store:
    result = ReplayEngine(store, use_snapshots=False).replay(1, int(sys.argv[2]))
with open("/proc/self/status") as status:
    peak_kib = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
print(result.events_folded, peak_kib)
"""


def replay_rss_kib(url: str, events: int) -> int:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, url, str(events)],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    ).stdout.split()
    assert int(out[0]) == events, out
    return int(out[1])


def replay_log(n_small: int, n_large: int, tail: int) -> None:
    heading(f"replay: a {n_large:,}-event log on PostgreSQL (snapshot every {SNAPSHOT_EVERY:,})")
    with (
        throwaway_postgres("claire_bench_replay") as url,
        PostgresEventStore(url, create=True) as store,
    ):
        builder = LogBuilder(store)
        timer = Timer()
        builder.grow_to(n_small)
        small_tail, small_folded = tail_replay_seconds(store, tail)
        builder.grow_to(n_large)
        line(f"build the log ({n_large:,} events, 1,000 a batch)", f"{timer.seconds:.1f} s")
        large_tail, large_folded = tail_replay_seconds(store, tail)

        figures = interleaved(
            {
                "fair": lambda: fetch_rate(store.range_pages(1, n_large), n_large),
                "copy": lambda: copy_binary_rate(url, n_large),
                "replay": lambda: full_replay_rate(store, n_large),
                "relaxed": lambda: full_replay_rate(store, n_large, relaxed=True),
            }
        )
        fair, replay, relaxed = figures["fair"], figures["replay"], figures["relaxed"]
        line("fair fetch: the replay's queries, binary, undecoded", fair.show("rows/s"), "baseline")
        line("COPY (sequence_number, canonical) TO STDOUT binary", figures["copy"].show("rows/s"))
        line(
            f"full replay, read + decode + fold ({n_large:,})",
            replay.show("ev/s"),
            against(replay, fair, REPLAY_TARGET, "fair fetch")
            + f"; {replay.ratio(figures['copy']):.2f}x COPY",
        )
        line(
            "  the same with the collector relaxed (relaxed_gc)",
            relaxed.show("ev/s"),
            f"{relaxed.ratio(replay):.2f}x without (an entry point may opt in)",
        )
        line(
            "  SELECT * over the text protocol (context only)",
            f"{text_fetch_rate(url, n_large):,.0f} rows/s",
            "not a baseline: more columns, text",
        )
        line(
            f"snapshot replay of the last {tail:,} at {n_small:,} events",
            f"{small_tail:.3f} s",
            f"folded {small_folded:,} (target <= 0.5 s: {verdict(small_tail <= 0.5)})",
        )
        line(
            f"snapshot replay of the last {tail:,} at {n_large:,} events",
            f"{large_tail:.3f} s",
            f"folded {large_folded:,}; {large_tail / small_tail:.2f}x the {n_small:,} figure "
            f"(target <= 0.5 s: {verdict(large_tail <= 0.5)}; independent of length "
            f"(<= 1.5x): {verdict(large_tail <= 1.5 * small_tail)})",
        )

        small_rss = replay_rss_kib(url, n_small)
        large_rss = replay_rss_kib(url, n_large)
        line(
            f"peak RSS, replay of {n_small:,} events (own process)",
            f"{small_rss / 1024:.0f} MiB",
            "baseline",
        )
        line(
            f"peak RSS, replay of {n_large:,} events (own process)",
            f"{large_rss / 1024:.0f} MiB",
            f"{large_rss / small_rss:.2f}x "
            f"(target <= 1.5x: {verdict(large_rss <= 1.5 * small_rss)})",
        )


def decision_reexecution(events_wanted: int) -> None:
    heading(f"replay: decision re-execution of a recorded ~{events_wanted:,}-event session")
    config = PipelineConfig()
    with throwaway_postgres("claire_bench_reexec") as url, open_store(url, create=True) as store:
        # The reference session is ~97% market data: one bar is about one event.
        bars = max(10, int(events_wanted / len(SYMBOLS) * 0.97))
        market = SyntheticMarket(seed=11, start=START, bars_per_symbol=bars)
        timer = Timer()
        SessionRecorder(store, reference_pipeline(config)).record(
            SessionSpec(session_id_for("bench", 11), "synthetic"), market.bars(), market.total_bars
        )
        head = store.head().sequence_number
        line(f"record the session ({head:,} events)", f"{timer.seconds:.1f} s")
        fold = ReplayEngine(store, use_snapshots=False).replay(1, head)
        line(
            "state replay of the same range (read + decode + fold)",
            f"{fold.events_per_second:,.0f} ev/s",
            "baseline",
        )
        result = reexecute(store, reference_pipeline(config), 1, head, SystemState())
        assert result.deterministic, result.first_divergence
        rate = result.events_per_second
        line(
            f"decision re-execution and comparison ({result.decisions_recorded:,} decisions)",
            f"{rate:,.0f} ev/s",
            f"{rate / fold.events_per_second:.2f}x state replay "
            f"(target >= 20,000 ev/s: {verdict(rate >= 20_000)})",
        )


def run() -> None:
    replay_log(n_small=scaled(100_000), n_large=scaled(1_000_000), tail=scaled(10_000))
    decision_reexecution(scaled(100_000))


if __name__ == "__main__":
    run()
