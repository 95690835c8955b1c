"""Timeline benchmark (issue 10 §4): ask a 1,000,000-event PostgreSQL log by time and symbol.

The log is real pipeline data: demo days recorded one after the other through `record_demo`
(market data of three symbols every 10 s, decisions, fills, a snapshot every 1,000 events)
until it holds a million events. `claire serve` answers over HTTP; every figure is the median
of 3 rounds (min-max), each round a subject batch interleaved with its baselines:

- GET /scene?at= and GET /explain?at=&symbol= at random times: p99 <= 50 ms. Baselines:
  GET /events/{id} (the floor of an HTTP read on this stack), the raw SQL fetch of exactly the
  rows a scene folds (snapshot + events after it, binary, undecoded), and GET
  /events/{id}/explain of the decision /explain?at= explains.
- GET /series/{symbol} for one symbol-day at 2,000 points: <= 100 ms; GET /markers/{symbol} for
  a day: <= 50 ms. Baseline: the raw SQL fetch of the same rows, undecoded.
- The same two on the demo day in the embedded SQLite store, beside GET /events/{id}.
- For context: GET /equity of a day, GET /symbols, and the background verifier behind
  GET /integrity (time until the whole log is verified).

GET /series and GET /equity answer a range asked before from a cache (claire.timeline.cache).
Their targets are judged on ranges never asked before: each such request asks between 1,501 and
2,000 points, so no two share a cache key (the work is the same: every bar of the day is read).
The same request asked again (from the cache) is shown beside it.

`CLAIRE_BENCH_SCALE=0.1` for a quick look (100,000 events).
"""

from __future__ import annotations

import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.common import (
    Timer,
    heading,
    line,
    percentile,
    scaled,
    served,
    throwaway_postgres,
    verdict,
)
from claire.pipeline import record_demo
from claire.store import EventStore, open_store
from claire.store.postgres import BARS, SYMBOL
from claire.timeline.moment import sequence_range

LOG_SIZE = 1_000_000
SAMPLES = 200  # requests per round
DAY_SAMPLES = 60  # symbol-days per round
ROUNDS = 3
SCENE_TARGET_MS = EXPLAIN_TARGET_MS = MARKERS_TARGET_MS = 50.0
SERIES_TARGET_MS = 100.0
VERIFY_BUDGET_S = 600.0
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

FOLDED_ROWS = (
    "SELECT sequence_number, canonical FROM events WHERE sequence_number BETWEEN %s AND %s"
)
MARKER_ROWS = f"""
SELECT sequence_number, canonical FROM events
WHERE sequence_number BETWEEN %s AND %s AND {SYMBOL} = %s
  AND event_type = ANY('{{risk_decision,order_result}}')
UNION ALL
SELECT sequence_number, canonical FROM events
WHERE sequence_number BETWEEN %s AND %s AND event_type = 'alert'
"""

Sample = Callable[[], float]  # one timed request or query, in ms
_fresh = itertools.count()


def fresh_points() -> int:
    """A max_points no earlier request of the run used (per range): the cache cannot answer."""
    return 2000 - next(_fresh) % 500


def timed_fresh(client: httpx.Client, path: str, params: dict[str, Any]) -> float:
    return timed_get(client, path, {**params, "max_points": fresh_points()})


def build_log(store: EventStore, size: int) -> int:
    days = 0
    while store.head().sequence_number < size:
        record_demo(store)
        days += 1
    return days


def timed_get(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> float:
    started = time.perf_counter()
    client.get(path, params=params).raise_for_status()
    return (time.perf_counter() - started) * 1000


def timed_again(client: httpx.Client, path: str, params: dict[str, Any]) -> float:
    """The request asked twice in a row, the second timed: the answer from the cache (the
    interleaved fresh requests of a round would evict it from the 64-entry cache otherwise)."""
    client.get(path, params=params).raise_for_status()
    return timed_get(client, path, params)


def timed_sql(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> float:
    started = time.perf_counter()
    conn.execute(sql, params, binary=True).fetchall()
    return (time.perf_counter() - started) * 1000


def rounds(subjects: Mapping[str, Sequence[Sample]]) -> dict[str, list[float]]:
    """ROUNDS rounds; in each, every subject's samples run in turn (interleaved). Returns each
    subject's p99 per round."""
    found: dict[str, list[float]] = {name: [] for name in subjects}
    for samples in subjects.values():  # warm up connections, caches and the planner
        for sample in samples[:5]:
            sample()
    for _ in range(ROUNDS):
        for name, samples in subjects.items():
            found[name].append(percentile([sample() for sample in samples], 99))
    return found


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ms ({min(values):.2f}-{max(values):.2f})"


def against(label: str, values: list[float], target: float, floor: tuple[str, list[float]]) -> None:
    """A figure with its ratio to a baseline of the same run and its target."""
    median = statistics.median(values)
    name, baseline = floor
    line(
        label,
        spread(values),
        f"{median / statistics.median(baseline):.1f}x {name}; "
        f"target <= {target:.0f} ms: {verdict(median <= target)}",
    )


class Scenario:
    """The log, its server, and the random questions asked of it (seeded)."""

    def __init__(self, store: EventStore, client: httpx.Client, conn: psycopg.Connection[Any]):
        self.store, self.client, self.conn = store, client, conn
        self.rng = random.Random(10)
        head = store.head().sequence_number
        first = next(iter(store.read(1, 1))).timestamp_utc
        last = next(iter(store.read(head, head))).timestamp_utc
        span = (last - first).total_seconds()
        self.times = [first + timedelta(seconds=self.rng.uniform(0, span)) for _ in range(SAMPLES)]
        self.days = sorted({t.date() for t in self.times})
        self.head = head

    def text(self, moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def symbol(self) -> str:
        return self.rng.choice(SYMBOLS)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Sample:
        return lambda: timed_get(self.client, path, params)

    def again(self, path: str, params: dict[str, Any]) -> Sample:
        return lambda: timed_again(self.client, path, params)

    def fresh(self, path: str, params: dict[str, Any]) -> Sample:
        """The request with a max_points never asked before (never from the cache)."""
        return lambda: timed_fresh(self.client, path, params)

    def sql(self, query: str, params: tuple[Any, ...]) -> Sample:
        return lambda: timed_sql(self.conn, query, params)


def scene_and_explain(s: Scenario) -> None:
    heading(f"timeline: GET /scene and GET /explain?at= on {s.head:,} events (PostgreSQL)")
    scene_paths, folded, events = [], [], []
    explain_paths, decision_paths = [], []
    for moment in s.times:
        scene_paths.append(s.get("/scene", {"at": s.text(moment)}))
        scene = s.client.get("/scene", params={"at": s.text(moment)}).json()
        last = scene["as_of_sequence"]
        start = scene["snapshot"]["sequence_number"] if scene["snapshot"] else 1
        folded.append(s.sql(FOLDED_ROWS, (min(start, last), last)))
        events.append(s.get(f"/events/{scene['before'][-1]['event_id']}"))
        params = {"at": s.text(moment), "symbol": s.symbol()}
        explain_paths.append(s.get("/explain", params))
        answer = s.client.get("/explain", params=params).json()
        if answer["explanation"] is not None:
            decision_paths.append(s.get(f"/events/{answer['explanation']['event_id']}/explain"))
    found = rounds(
        {
            "events": events,
            "scene": scene_paths,
            "folded": folded,
            "explain-at": explain_paths,
            "explain-id": decision_paths,
        }
    )
    line("baseline: GET /events/{id} p99", spread(found["events"]))
    line("baseline: raw SQL fetch of the rows a scene folds, p99", spread(found["folded"]))
    line("baseline: GET /events/{id}/explain (same decisions) p99", spread(found["explain-id"]))
    floor = ("GET /events/{id}", found["events"])
    against("GET /scene?at= p99", found["scene"], SCENE_TARGET_MS, floor)
    against("GET /explain?at=&symbol= p99", found["explain-at"], EXPLAIN_TARGET_MS, floor)


def series_and_markers(s: Scenario) -> None:
    heading("timeline: one symbol-day (8,640 bars) of GET /series and GET /markers")
    series, raw_series, markers, raw_markers, equity = [], [], [], [], []
    cached_series, cached_equity = [], []
    for index in range(DAY_SAMPLES):
        day = s.days[index % len(s.days)]
        start = datetime(day.year, day.month, day.day, tzinfo=s.times[0].tzinfo)
        window = {"from": s.text(start), "to": s.text(start + timedelta(days=1))}
        bounds = sequence_range(s.store, start, start + timedelta(days=1))
        assert bounds is not None
        first, last = bounds
        symbol = s.symbol()
        series.append(s.fresh(f"/series/{symbol}", window))
        cached_series.append(s.again(f"/series/{symbol}", {**window, "max_points": 2000}))
        by_symbol = BARS + f" AND {SYMBOL} = %s ORDER BY sequence_number"
        raw_series.append(s.sql(by_symbol, (first, last, symbol)))
        markers.append(s.get(f"/markers/{symbol}", window))
        raw_markers.append(s.sql(MARKER_ROWS, (first, last, symbol, first, last)))
        equity.append(s.fresh("/equity", window))
        cached_equity.append(s.again("/equity", {**window, "max_points": 2000}))
    found = rounds(
        {
            "raw-series": raw_series,
            "series": series,
            "raw-markers": raw_markers,
            "markers": markers,
            "series-cached": cached_series,
            "equity": equity[:10],
            "equity-cached": cached_equity[:10],
        }
    )
    line("baseline: raw SQL of a symbol-day's bars p99", spread(found["raw-series"]))
    against(
        "GET /series/{symbol} (a day, ~2,000 points) p99",
        found["series"],
        SERIES_TARGET_MS,
        ("raw SQL", found["raw-series"]),
    )
    line("GET /series/{symbol}, the same asked again p99", spread(found["series-cached"]))
    line("baseline: raw SQL of a symbol-day's marker rows p99", spread(found["raw-markers"]))
    against(
        "GET /markers/{symbol} (a day) p99",
        found["markers"],
        MARKERS_TARGET_MS,
        ("raw SQL", found["raw-markers"]),
    )
    line("GET /equity (a day, ~2,000 points) p99", spread(found["equity"]), "no target")
    line("GET /equity, the same asked again p99", spread(found["equity-cached"]), "no target")


def symbols_and_integrity(s: Scenario) -> None:
    heading("timeline: GET /symbols and the background verifier of GET /integrity")
    cold = timed_get(s.client, "/symbols")
    warm = percentile([timed_get(s.client, "/symbols") for _ in range(20)], 50)
    line("GET /symbols, first request (scans the market data)", f"{cold:.1f} ms")
    line("GET /symbols, later requests (only what was appended) p50", f"{warm:.2f} ms")
    timer = Timer()
    answer = s.client.get("/integrity").json()
    request = percentile([timed_get(s.client, "/integrity") for _ in range(20)], 99)
    while answer["status"] == "verifying" and timer.seconds < VERIFY_BUDGET_S:
        time.sleep(1)
        answer = s.client.get("/integrity").json()
    done = answer["verified_to_sequence"]
    line("GET /integrity p99 while verifying", f"{request:.2f} ms")
    line(
        f"background verification: {answer['status']} to {done:,}",
        f"{timer.seconds:.0f} s",
        f"{done / timer.seconds:,.0f} events/s",
    )


def demo_on_sqlite() -> None:
    """The demo as a user runs it: one day in the embedded SQLite store, `claire serve`."""
    heading("timeline: the demo day on SQLite (the embedded default)")
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'claire_events.db'}"
        with open_store(url, create=True) as store:
            record_demo(store)
            ids = [str(e.event_id) for e in store.read() if (e.sequence_number or 0) % 97 == 0]
        with served(url) as base, httpx.Client(base_url=base, timeout=60) as client:
            day = {"from": "2025-02-14", "to": "2025-02-15"}
            series = [partial(timed_fresh, client, f"/series/{sym}", day) for sym in SYMBOLS] * 10
            cached = [
                partial(timed_again, client, f"/series/{sym}", {**day, "max_points": 2000})
                for sym in SYMBOLS
            ] * 10
            markers = [partial(timed_get, client, f"/markers/{sym}", day) for sym in SYMBOLS] * 10
            equity = [partial(timed_fresh, client, "/equity", day)] * 10
            events = [partial(timed_get, client, f"/events/{i}") for i in ids[:60]]
            found = rounds(
                {
                    "events": events,
                    "series": series,
                    "series-cached": cached,
                    "markers": markers,
                    "equity": equity,
                }
            )
    floor = ("GET /events/{id}", found["events"])
    line("baseline: GET /events/{id} p99", spread(found["events"]))
    against(
        "GET /series/{symbol} (the day, ~2,000 points) p99",
        found["series"],
        SERIES_TARGET_MS,
        floor,
    )
    line("GET /series/{symbol}, the same asked again p99", spread(found["series-cached"]))
    against("GET /markers/{symbol} (the day) p99", found["markers"], MARKERS_TARGET_MS, floor)
    line("GET /equity (the day, ~2,000 points) p99", spread(found["equity"]), "no target")


def run() -> None:
    demo_on_sqlite()
    size = scaled(LOG_SIZE)
    with throwaway_postgres("claire_bench_timeline") as url, open_store(url, create=True) as store:
        timer = Timer()
        days = build_log(store, size)
        head = store.head().sequence_number
        line(f"log recorded: {days} demo days", f"{head:,} events", f"{timer.seconds:.0f} s")
        with (
            served(url) as base,
            httpx.Client(base_url=base, timeout=60) as client,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            conn.execute("ANALYZE events")
            scenario = Scenario(store, client, conn)
            scene_and_explain(scenario)
            series_and_markers(scenario)
            symbols_and_integrity(scenario)


if __name__ == "__main__":
    run()
