"""Back to the scene (issue 10 §1) on the demo session, on SQLite and on PostgreSQL.

One demo day per store and module: on SQLite through the real `claire demo` entry point, on
PostgreSQL through the pipeline's `record_demo`. `claire scene` / `claire explain --at` run as
processes and `claire serve` answers the same questions over HTTP; both must give the same
documents, and the scene must equal a full fold's state.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from claire.events import BaseEvent, EventType
from claire.pipeline import record_demo
from claire.replay import ReplayEngine
from claire.state.model import SystemState
from claire.store import EventStore, open_store
from claire.timeline.scene import state_document
from claire.timeline.when import human
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, Server, start_server, stop_server
from tests.integration.test_cli_audit_demo import as_json, claire


def one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert text in result.stderr, result.stderr


class Demo:
    """A recorded demo day, a store on it and a `claire serve` answering for it."""

    def __init__(self, url: str, server: Server) -> None:
        self.url = url
        self.store: EventStore = open_store(url)
        self.server = server
        self.events = list(self.store.read())

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.server.url}{path}", params=params, timeout=30)

    def first(self, kind: EventType, **payload: Any) -> BaseEvent:
        return next(
            e
            for e in self.events
            if e.event_type is kind and all(e.payload.get(k) == v for k, v in payload.items())
        )


def _serve(url: str) -> Iterator[Server]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": url}
    for name in ("REDIS_URL", "CLAIRE_READ_TOKEN", "CLAIRE_WRITE_TOKEN"):
        env.pop(name, None)
    running = start_server(env, "--no-ingest")
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    url = f"sqlite:///{tmp_path_factory.mktemp('timeline') / 'claire_events.db'}"
    as_json(claire(url, "demo", "--json"))
    for server in _serve(url):
        demo = Demo(url, server)
        yield demo
        demo.store.close()


@pytest.fixture(scope="module")
def postgres_demo(pg_admin_url: str) -> Iterator[Demo]:
    with throwaway_database(pg_admin_url, "timeline") as url:
        with open_store(url, create=True) as store:
            record_demo(store)
        for server in _serve(url):
            demo = Demo(url, server)
            yield demo
            demo.store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest) -> Demo:
    found: Demo = request.getfixturevalue(f"{request.param}_demo")
    return found


def at(event: BaseEvent, offset: timedelta = timedelta(0)) -> str:
    return (event.timestamp_utc + offset).strftime("%Y-%m-%dT%H:%M:%S")


# --- the scene -------------------------------------------------------------------------------
def test_scene_equals_a_full_fold_and_the_api_serves_the_cli_document(demo: Demo) -> None:
    opened = demo.first(EventType.POSITION_UPDATE, status="OPENED")
    moments = [at(opened, timedelta(seconds=20)), "2025-02-14 13:05", "2025-02-14T23:00:00Z"]
    scenes = [demo.get("/scene", at=moment).json() for moment in moments]
    folded: dict[int, Any] = {}

    def keep(state: SystemState) -> None:
        folded[state.last_sequence] = orjson.loads(orjson.dumps(state_document(state)))

    wanted = {scene["as_of_sequence"]: keep for scene in scenes}
    ReplayEngine(demo.store).replay(1, max(wanted), use_snapshots=False, checkpoints=wanted)
    for scene in scenes:
        assert scene["state"] == folded[scene["as_of_sequence"]]
        if scene["as_of_sequence"] > 2000:  # the recorder writes a snapshot every 1,000 events
            assert scene["snapshot"] is not None and scene["events_folded"] < 2000
    assert as_json(claire(demo.url, "scene", "--at", moments[0], "--json")) == scenes[0]
    symbol = opened.payload["symbol"]
    (position,) = [p for p in scenes[0]["state"]["positions"] if p["symbol"] == symbol]
    assert position["entry_price"] == opened.payload["entry_price"]
    assert position["last_price"] == scenes[0]["state"]["last_prices"][symbol]


def test_scene_lists_and_times(demo: Demo) -> None:
    decision = demo.first(EventType.RISK_DECISION)
    moment = at(decision)
    scene = demo.get("/scene", at=moment).json()
    # Exactly on an event: every event stamped at that second is part of the scene.
    same_second = [e for e in demo.events if e.timestamp_utc == decision.timestamp_utc]
    assert scene["as_of_sequence"] == same_second[-1].sequence_number
    assert (
        scene["as_of_time"]
        == scene["at"]
        == decision.timestamp_utc.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    )
    assert [e["sequence_number"] for e in scene["before"]] == list(
        range(scene["as_of_sequence"] - 9, scene["as_of_sequence"] + 1)
    )
    assert len(scene["after"]) == 5 and scene["after"][0]["time"] > scene["at"]
    # An offset names the same moment; the answer says UTC.
    shifted = (decision.timestamp_utc + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    assert demo.get("/scene", at=shifted).json()["as_of_sequence"] == scene["as_of_sequence"]
    assert scene["timezone"] == "UTC"
    # With a symbol the lists are that symbol's events; the state stays the whole bot's.
    symbol = decision.payload["symbol"]
    mine = demo.get("/scene", at=moment, symbol=symbol).json()
    assert {e["symbol"] for e in mine["before"] + mine["after"]} == {symbol}
    assert mine["state"] == scene["state"]
    # By sequence number, the same scene.
    assert demo.get("/scene", sequence=scene["as_of_sequence"]).json()["state"] == scene["state"]
    # After the last event: the final state, nothing after it.
    last = demo.get("/scene", at="2030-01-01").json()
    assert last["as_of_sequence"] == demo.events[-1].sequence_number and last["after"] == []


def test_scene_text_and_errors(sqlite_demo: Demo) -> None:
    demo = sqlite_demo
    text = claire(demo.url, "scene", "--at", "2025-02-14 13:05+01:00")
    assert text.returncode == 0, text.stderr
    assert "SCENE AT 2025-02-14 12:05:00 UTC (asked: 2025-02-14 13:05+01:00)" in text.stdout
    for heading in ("Account:", "Open Positions:", "Last Prices:", "Last 10 Events", "Next 5"):
        assert heading in text.stdout
    assert "State: snapshot at sequence" in text.stdout
    one_line_error(
        claire(demo.url, "scene", "--at", "2025-02-13 23:59:59"),
        1,
        "nothing recorded at or before 2025-02-13 23:59:59 UTC: the log starts at "
        "2025-02-14 00:00:00 UTC",
    )
    one_line_error(claire(demo.url, "scene", "--at", "noon"), 2, "--at: 'noon' is not")
    one_line_error(claire(demo.url, "scene"), 2, "give --at TIME or --sequence N")


# --- explain --at ----------------------------------------------------------------------------
def test_explain_at_while_a_position_was_open(demo: Demo) -> None:
    opened = demo.first(EventType.POSITION_UPDATE, status="OPENED")
    symbol = opened.payload["symbol"]
    trade = [e for e in demo.events if e.correlation_id == opened.correlation_id]
    entry = next(e for e in trade if e.event_type is EventType.RISK_DECISION)
    closed = next(e for e in trade if e.payload.get("status") == "CLOSED")
    moment = at(opened, timedelta(seconds=20))
    answer = as_json(claire(demo.url, "explain", "--at", moment, "--symbol", symbol, "--json"))
    assert answer["position_open"] and answer["decision_role"] == "opened_position"
    assert answer["explanation"] == demo.get(f"/events/{entry.event_id}/explain").json()
    outcome = answer["outcome"]
    assert outcome["status"] == "closed" and outcome["closed_at_sequence"] == closed.sequence_number
    assert outcome["realized_pnl"] == closed.payload["realized_pnl"]
    assert outcome["exit"] in ("stop_loss", "take_profit")
    scene = demo.get("/scene", at=moment).json()
    assert answer["position"] in scene["state"]["positions"]
    assert demo.get("/explain", at=moment, symbol=symbol).json() == answer
    if demo.url.startswith("sqlite"):
        text = claire(demo.url, "explain", "--at", moment, "--symbol", symbol)
        seed = claire(demo.url, "explain", str(entry.event_id)).stdout
        assert text.returncode == 0 and seed in text.stdout  # the seed's block, unchanged
        assert f"Position: OPEN, {opened.payload['side']}" in text.stdout
        kind = outcome["exit"].replace("_", "-")
        assert f"Closed at sequence {closed.sequence_number}" in text.stdout and kind in text.stdout


def test_explain_at_with_no_position_open(demo: Demo) -> None:
    rejected = demo.first(EventType.RISK_DECISION, approved=False)
    symbol = rejected.payload["symbol"]
    moment = at(rejected, timedelta(seconds=5))
    answer = demo.get("/explain", at=moment, symbol=symbol).json()
    if answer["position_open"]:
        pytest.skip("the first rejection happened while a position in the symbol was open")
    assert answer["decision_role"] == "last_decision" and answer["outcome"] is None
    assert answer["explanation"]["event_id"] == str(rejected.event_id)
    later = [
        e
        for e in demo.events
        if e.event_type is EventType.RISK_DECISION
        and e.payload["symbol"] == symbol
        and (e.sequence_number or 0) > answer["as_of_sequence"]
    ]
    assert answer["next_decision"]["event_id"] == str(later[0].event_id)
    # Before any decision on the symbol: nothing to explain, the next decision named.
    start = demo.get("/explain", at="2025-02-14 00:00", symbol=symbol).json()
    assert start["explanation"] is None and start["position"] is None
    assert start["next_decision"]["event_type"] == "risk_decision"
    if demo.url.startswith("sqlite"):
        text = claire(demo.url, "explain", "--at", moment, "--symbol", symbol)
        asked = human(rejected.timestamp_utc + timedelta(seconds=5))
        assert f"Position: none. No {symbol} position was open at {asked}" in text.stdout
        assert claire(demo.url, "explain", str(rejected.event_id)).stdout in text.stdout
        assert f"Next Decision on {symbol}:" in text.stdout


def test_unknown_symbols_and_empty_moments_are_one_line_errors(demo: Demo) -> None:
    unknown = claire(demo.url, "explain", "--at", "2025-02-14 13:05", "--symbol", "XRPUSDT")
    one_line_error(
        unknown, 1, "unknown symbol 'XRPUSDT': the symbols in the log are BTCUSDT, ETHUSDT, SOLUSDT"
    )
    # 00:30 at +01:00 is 23:30 UTC the day before: before the first event.
    before = claire(demo.url, "explain", "--at", "2025-02-14T00:30:00+01:00", "--symbol", "BTCUSDT")
    one_line_error(before, 1, "nothing recorded at or before 2025-02-13 23:30:00 UTC")
    response = demo.get("/explain", at="2025-02-14 13:05", symbol="XRPUSDT")
    assert response.status_code == 404 and "BTCUSDT, ETHUSDT, SOLUSDT" in response.json()["error"]
    early = demo.get("/scene", at="2025-02-13 12:00")
    assert early.status_code == 404 and "nothing recorded at or before" in early.json()["error"]
    bad = demo.get("/scene", at="13:05")
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "query.at"


# --- the data of the UI ------------------------------------------------------------------------
def test_symbols_series_and_markers(demo: Demo) -> None:
    symbols = demo.get("/symbols").json()
    assert [(s["symbol"], s["bars"]) for s in symbols["symbols"]] == [
        ("BTCUSDT", 8640),
        ("ETHUSDT", 8640),
        ("SOLUSDT", 8640),
    ]
    assert symbols["head_sequence"] == demo.events[-1].sequence_number
    bars = [
        e
        for e in demo.events
        if e.event_type is EventType.MARKET_DATA and e.payload["symbol"] == "BTCUSDT"
    ]
    day = demo.get("/series/BTCUSDT").json()
    assert day["source_points"] == 8640 and day["downsampled"]
    points = day["points"]
    assert len(points) <= 2000 and points[0]["open"] == bars[0].payload["open"]
    assert points[-1]["close"] == bars[-1].payload["price"]
    # Downsampling keeps the extremes.
    assert max(Decimal(p["high"]) for p in points) == max(Decimal(b.payload["high"]) for b in bars)
    assert min(Decimal(p["low"]) for p in points) == min(Decimal(b.payload["low"]) for b in bars)
    hour = demo.get("/series/BTCUSDT", **{"from": "2025-02-14 13:00", "to": "2025-02-14T14:00Z"})
    assert hour.json()["source_points"] == 360 and not hour.json()["downsampled"]
    assert hour.json()["points"][0]["time"] == "2025-02-14T13:00:00.000000Z"
    assert hour.json()["points"][-1]["time"] == "2025-02-14T13:59:50.000000Z"
    assert len(demo.get("/series/BTCUSDT", max_points=10).json()["points"]) == 10
    unknown = demo.get("/series/XRPUSDT")
    assert unknown.status_code == 404 and "BTCUSDT, ETHUSDT, SOLUSDT" in unknown.json()["error"]
    empty = demo.get("/series/BTCUSDT", **{"from": "2025-02-14 14:00", "to": "2025-02-14 13:00"})
    assert empty.status_code == 422 and empty.json()["problems"][0]["field"] == "query.to"

    marks = demo.get("/markers/BTCUSDT").json()["markers"]
    kinds = {m["kind"] for m in marks}
    assert {"decision_approved", "decision_rejected", "fill", "alert"} <= kinds
    assert kinds & {"stop_loss", "take_profit"}
    fills = [
        e
        for e in demo.events
        if e.event_type is EventType.ORDER_RESULT and e.payload["symbol"] == "BTCUSDT"
    ]
    assert [m["event_id"] for m in marks if m["kind"] == "fill"] == [str(e.event_id) for e in fills]
    assert [m["sequence_number"] for m in marks] == sorted(m["sequence_number"] for m in marks)


def test_equity_curve_follows_the_fold(demo: Demo) -> None:
    curve = demo.get("/equity", max_points=50).json()
    points = curve["points"]
    assert 1 < len(points) <= 50 and curve["starting_equity"] == "100000"
    final = ReplayEngine(demo.store).state_at(demo.events[-1].sequence_number or 0).state
    assert points[-1]["equity"] == str(final.equity)
    middle = points[len(points) // 2]
    state = ReplayEngine(demo.store).state_at(middle["sequence_number"]).state
    assert Decimal(middle["equity_with_unrealized"]) == state.equity + state.unrealized_pnl
    assert Decimal(curve["max_drawdown"]) <= min(Decimal(p["drawdown"]) for p in points) <= 0
    afternoon = demo.get("/equity", **{"from": "2025-02-14 12:00"}).json()
    assert afternoon["first_sequence"] > 1
    for name in ("sequence_number", "equity", "equity_with_unrealized"):
        assert afternoon["points"][-1][name] == points[-1][name]
    # The drawdown is measured from the range's own peak.
    assert Decimal(afternoon["max_drawdown"]) >= Decimal(curve["max_drawdown"])


def test_timeline_events_around_and_paging(demo: Demo) -> None:
    decision = demo.first(EventType.RISK_DECISION)
    seq = decision.sequence_number or 0
    near = demo.get("/timeline/events", around=seq, before=3, after=3).json()
    assert [e["sequence_number"] for e in near["events"]] == list(range(seq - 3, seq + 4))
    assert near["has_more_before"] and near["has_more_after"]
    steps = demo.get(
        "/timeline/events", around=seq, before=2, after=2, symbol="BTCUSDT", types="risk_decision"
    ).json()["events"]
    assert {(e["event_type"], e["symbol"]) for e in steps} == {("risk_decision", "BTCUSDT")}
    assert (
        demo.get("/timeline/events", at="2025-02-14 00:00", before=0, after=0).json()["events"][0][
            "sequence_number"
        ]
        == demo.get("/scene", at="2025-02-14 00:00").json()["as_of_sequence"]
    )
    page = demo.get("/timeline/events", from_sequence=1, limit=5).json()
    assert [e["sequence_number"] for e in page["events"]] == [1, 2, 3, 4, 5]
    assert not page["has_more_before"] and page["has_more_after"]
    bad = demo.get("/timeline/events", around=1, types="trade")
    assert bad.status_code == 422 and "unknown event type 'trade'" in bad.json()["error"]


def test_what_if_charts_both_sides_and_stores_nothing(demo: Demo) -> None:
    head = demo.store.head()
    body = {
        "overrides": {"risk.max_open_positions": "1"},
        "from": "2025-02-14 00:00",
        "to": "2025-02-14 06:00",
        "max_points": 100,
    }
    response = httpx.post(f"{demo.server.url}/whatif", json=body, timeout=120)
    assert response.status_code == 200, response.text
    chart = response.json()
    summary = chart["summary"]
    first, last = summary["range"]["from_sequence"], summary["range"]["to_sequence"]
    assert chart["stored"] is False and demo.store.head() == head
    assert len(chart["recorded"]["trades"]) == summary["trades_recorded"]
    assert len(chart["whatif"]["trades"]) == summary["trades_whatif"]
    assert summary["decisions_changed"] > 0 and chart["first_changed_decision"] is not None
    for side in ("recorded", "whatif"):
        curve = chart[side]["equity"]
        assert 1 < len(curve["points"]) <= 100
        assert curve["points"][-1]["equity"] == summary[side]["equity"]
    cli = as_json(
        claire(
            demo.url,
            "replay",
            "--sequence",
            str(first),
            str(last),
            "--set",
            "risk.max_open_positions=1",
            "--json",
        )
    )
    assert cli["trades_appeared"] == summary["trades_appeared"]
    assert cli["whatif"] == summary["whatif"] and cli["first_change"] == summary["first_change"]
    refused = httpx.post(
        f"{demo.server.url}/whatif", json={"overrides": {"risk.nope": "1"}}, timeout=30
    )
    assert refused.status_code == 422 and "risk.nope" in refused.json()["error"]


def test_integrity_is_verified_in_the_background(demo: Demo) -> None:
    head = demo.store.head().sequence_number
    for _ in range(600):
        answer = demo.get("/integrity").json()
        if answer["status"] != "verifying":
            break
        time.sleep(0.1)
    assert answer["status"] == "verified", answer
    assert answer["verified_to_sequence"] == answer["head_sequence"] == head
    assert answer["first_break"] is None
