"""Replay of recorded pipeline sessions on PostgreSQL, and the session helpers other replay
tests use (recording a small, active session; finding events in it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

from claire.events import BaseEvent, EventType
from claire.pipeline import PipelineConfig, SessionRecorder, SessionSpec, SyntheticMarket
from claire.pipeline.pipeline import reference_pipeline
from claire.pipeline.recorder import session_id_for
from claire.replay import ReplayEngine, SystemState
from claire.replay.reexecute import DecisionPipeline
from claire.replay.whatif import what_if
from claire.store import EventStore, open_store

SESSION_START = datetime(2025, 2, 14, tzinfo=UTC)
# A configuration that trades often in a few hundred bars (several entries and stop losses).
ACTIVE = PipelineConfig().with_overrides(
    {
        "strategy.cooldown_bars": "3",
        "strategy.lookback": "5",
        "strategy.volume_factor": "1.1",
        "strategy.momentum_threshold": "0.001",
        "risk.min_confidence": "0.5",
        "risk.max_open_positions": "3",
        "risk.max_exposure_pct": "0.9",
        "session.snapshot_every": "200",
    }
)


def record_session(
    store: EventStore,
    config: PipelineConfig = ACTIVE,
    *,
    pipeline: DecisionPipeline | None = None,
    bars_per_symbol: int = 200,
    seed: int = 7,
) -> int:
    """Record a synthetic session through `pipeline` (default: the reference); return the head."""
    runner = pipeline if pipeline is not None else reference_pipeline(config)
    recorder = SessionRecorder(store, reference_pipeline(config))
    # The recorder needs the Pipeline's config and factory; a wrapped pipeline decides.
    recorder.pipeline = runner  # type: ignore[assignment]
    market = SyntheticMarket(seed=seed, start=SESSION_START, bars_per_symbol=bars_per_symbol)
    spec = SessionSpec(session_id_for("replay-test", seed), "synthetic")
    recorder.record(spec, market.bars(), market.total_bars)
    return store.head().sequence_number


def first_of_type(store: EventStore, kind: EventType, after: int = 1) -> BaseEvent:
    found = next(iter(store.read(after, event_types=[kind], limit=1)), None)
    assert found is not None, f"the session recorded no {kind.value}"
    return found


def decisions_of(store: EventStore, input_sequence: int) -> list[BaseEvent]:
    """The recorded decisions of an input: the events after it that descend from it."""
    events = iter(store.read(input_sequence))
    ids = {next(events).event_id}
    found = []
    for event in events:
        if event.causation_id not in ids:
            break
        ids.add(event.event_id)
        found.append(event)
    return found


def fold(store: EventStore, last: int) -> SystemState:
    state = SystemState()
    for event in store.read(1, last):
        state.apply(event)
    return state


@dataclass(frozen=True)
class Recorded:
    """A session recorded once per test module in its own database; tests only read it."""

    url: str
    head: int

    def open(self) -> EventStore:
        return open_store(self.url, create=True)


@pytest.fixture(scope="module")
def recorded(pg_admin_url: str) -> Iterator[Recorded]:
    import psycopg

    name = f"claire_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(pg_admin_url)._replace(path=f"/{name}"))
    try:
        with open_store(url, create=True) as store:
            head = record_session(store)
        yield Recorded(url, head)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(recorded: Recorded) -> Iterator[EventStore]:
    with recorded.open() as pg_store:
        yield pg_store


def test_snapshot_replay_of_a_recorded_session_equals_the_full_fold(store: EventStore) -> None:
    head = store.head().sequence_number
    engine = ReplayEngine(store)
    late = engine.replay(head - 150, head)
    assert late.snapshot is not None
    assert late.snapshot.at_sequence <= head - 151
    assert late.events_folded < head / 2
    full = engine.replay(head - 150, head, use_snapshots=False)
    assert late.state.hash() == full.state.hash() == fold(store, head).hash()
    assert late.events_per_type == full.events_per_type
    assert late.blocked_calls == {}


def test_every_recorded_snapshot_hash_is_the_state_folded_to_its_sequence(
    store: EventStore,
) -> None:
    head = store.head().sequence_number
    snapshots = list(store.read(1, head, event_types=[EventType.STATE_SNAPSHOT]))
    assert len(snapshots) >= 3
    engine = ReplayEngine(store, use_snapshots=False)
    for snapshot in snapshots:
        at = snapshot.payload["at_sequence"]
        assert engine.state_at(at).state.hash() == snapshot.payload["state_hash"]


def test_time_range_replay_of_the_first_hour(store: EventStore) -> None:
    engine = ReplayEngine(store)
    result = engine.replay_time(SESSION_START, SESSION_START + timedelta(minutes=10))
    # 10 s bars for three symbols: 60 bars per symbol in ten minutes
    assert result.first_sequence == 1
    assert result.events_per_type["market_data"] == 180
    last = store.read(result.last_sequence, result.last_sequence + 1)
    stamps = [e.timestamp_utc for e in last]
    assert stamps[0] < SESSION_START + timedelta(minutes=10) <= stamps[1]


def test_what_if_with_a_tight_exposure_limit_changes_trades_but_stores_nothing(
    store: EventStore,
) -> None:
    head = store.head().sequence_number
    before = store.head()
    report = what_if(store, 1, head, {"risk.max_exposure_pct": "0.05"})
    assert store.head() == before
    assert report.decisions_changed > 0
    assert report.trades_disappeared and not report.trades_appeared
    recorded_trades = [
        str(e.correlation_id) for e in store.read(1, head, event_types=[EventType.ORDER_REQUEST])
    ]
    assert set(report.trades_disappeared) <= set(recorded_trades)
    assert report.recorded.equity == fold(store, head).equity
    assert report.pnl_difference == report.whatif.equity - report.recorded.equity
    first = report.first_change
    assert first is not None
    assert first.event_type == "risk_decision"
    assert first.sequence_number == first_of_type(store, EventType.RISK_DECISION).sequence_number
    fields = {d.field: (d.recorded, d.replayed) for d in first.differences}
    assert fields["payload.risk_checks.max_exposure.limit"] == ("0.9", "0.05")


def test_what_if_with_the_recorded_values_changes_nothing(store: EventStore) -> None:
    head = store.head().sequence_number
    report = what_if(store, 1, head, {"risk.max_exposure_pct": "0.9"})
    assert report.decisions_changed == 0 and report.first_change is None
    assert report.trades_whatif == report.trades_recorded
    assert report.pnl_difference == 0
