"""ReplayEngine on hand-built logs: ranges, snapshots, time ranges, the virtual clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claire.errors import NotFoundError
from claire.events import BaseEvent, EventFactory, Side
from claire.replay import ReplayEngine, ReplayMode, SystemState, now
from claire.state.model import SESSION_STARTED
from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from claire.store.sqlite import SqliteEventStore
from rigs.factories import START, factory


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "memory":
        yield MemoryEventStore()
    else:
        with SqliteEventStore(f"sqlite:///{tmp_path / 'events.db'}", create=True) as sqlite_store:
            yield sqlite_store


def session_start(f: EventFactory, equity: str = "100000") -> BaseEvent:
    return f.create_alert(
        level="INFO",
        code=SESSION_STARTED,
        message="session started",
        context={"starting_equity": equity},
        correlation_id=uuid.uuid4(),
    )


def round_trip(f: EventFactory, price: int, exit_price: int) -> list[BaseEvent]:
    """Market data, an order and its fill, a position opened, then closed at a profit or loss."""
    trade = uuid.uuid4()
    md = f.create_market_data(symbol="BTCUSDT", price=price, volume=10, correlation_id=trade)
    order = f.create_order_request(
        order_id=f"o-{trade.hex[:8]}",
        symbol="BTCUSDT",
        side=Side.BUY,
        size="0.5",
        correlation_id=trade,
        causation_id=md.event_id,
    )
    fill = f.create_order_result(
        order_id=f"o-{trade.hex[:8]}",
        symbol="BTCUSDT",
        side=Side.BUY,
        status="FILLED",
        filled_size="0.5",
        average_price=price,
        fee="2.5",
        correlation_id=trade,
        causation_id=order.event_id,
    )
    opened = f.create_position_update(
        symbol="BTCUSDT",
        side=Side.BUY,
        status="OPENED",
        size="0.5",
        entry_price=price,
        stop_loss_price=price - 1000,
        correlation_id=trade,
        causation_id=fill.event_id,
    )
    md2 = f.create_market_data(symbol="BTCUSDT", price=exit_price, volume=12, correlation_id=trade)
    closed = f.create_position_update(
        symbol="BTCUSDT",
        side=Side.BUY,
        status="CLOSED",
        size="0",
        entry_price=price,
        realized_pnl=(Decimal(exit_price) - Decimal(price)) / 2,
        correlation_id=trade,
        causation_id=md2.event_id,
    )
    return [md, order, fill, opened, md2, closed]


def build_log(store: EventStore, trades: int = 5, f: EventFactory | None = None) -> EventFactory:
    f = f or factory()
    store.append(session_start(f))
    for i in range(trades):
        store.append(round_trip(f, 50000 + 100 * i, 50050 + 130 * i))
    return f


def fold_all(store: EventStore, last: int) -> SystemState:
    state = SystemState()
    for event in store.read(1, last):
        state.apply(event)
    return state


def add_snapshot(store: EventStore, f: EventFactory, at_sequence: int, **tamper: str) -> int:
    state = fold_all(store, at_sequence)
    document = state.to_document()
    digest = state.hash()
    document.update({k: v for k, v in tamper.items() if k != "state_hash"})
    event = f.create_state_snapshot(
        at_sequence=at_sequence,
        state=document,
        state_hash=tamper.get("state_hash", digest),
        correlation_id=uuid.uuid4(),
    )
    return store.append(event)[0]


def test_full_replay_equals_a_plain_fold(store: EventStore) -> None:
    build_log(store)
    result = ReplayEngine(store).replay(1, 31)
    expected = fold_all(store, 31)
    assert result.state.hash() == expected.hash()
    assert result.state.starting_equity == Decimal(100000)
    # five round trips: 0.5 x (50 + 80 + 110 + 140 + 170) realised, minus 5 x 2.5 fees
    assert result.state.equity == Decimal(100000) + Decimal("275") - Decimal("12.5")
    assert result.events_per_type == {
        "alert": 1,
        "market_data": 10,
        "order_request": 5,
        "order_result": 5,
        "position_update": 10,
    }
    assert (result.first_sequence, result.last_sequence, result.snapshot) == (1, 31, None)


def test_end_beyond_head_is_cut_to_the_head(store: EventStore) -> None:
    build_log(store, trades=2)
    result = ReplayEngine(store).replay(1, 10_000)
    assert result.last_sequence == 13
    assert result.state.last_sequence == 13


def test_range_replay_reports_only_the_range_but_rebuilds_the_whole_state(
    store: EventStore,
) -> None:
    build_log(store)
    result = ReplayEngine(store).replay(8, 13)
    assert result.events_in_range == 6
    assert result.events_folded == 13
    assert result.state.hash() == fold_all(store, 13).hash()


def test_replay_starts_from_the_nearest_snapshot_at_or_below_the_start(
    store: EventStore,
) -> None:
    f = build_log(store, trades=3)  # 19 events
    first_snapshot = add_snapshot(store, f, 7)  # stored at 20
    second_snapshot = add_snapshot(store, f, 19)  # stored at 21
    for i in range(3):
        store.append(round_trip(f, 51000 + i, 51100 + i))  # 22..39
    engine = ReplayEngine(store)

    late = engine.replay(25, 39)
    assert late.snapshot is not None
    assert (late.snapshot.sequence_number, late.snapshot.at_sequence) == (second_snapshot, 19)
    assert late.events_folded == 39 - 19
    assert late.events_in_range == 15

    early = engine.replay(10, 39)
    assert early.snapshot is not None
    assert (early.snapshot.sequence_number, early.snapshot.at_sequence) == (first_snapshot, 7)

    full = engine.replay(25, 39, use_snapshots=False)
    assert full.snapshot is None and full.events_folded == 39
    assert late.state.hash() == early.state.hash() == full.state.hash()
    assert late.events_per_type == full.events_per_type


def test_a_snapshot_whose_hash_does_not_hold_is_not_used(store: EventStore) -> None:
    f = build_log(store, trades=2)
    add_snapshot(store, f, 13, equity="999999")  # state edited, hash left as it was
    store.append(round_trip(f, 52000, 52100))
    result = ReplayEngine(store).replay(15, 20)
    assert result.snapshot is None
    assert result.snapshot_rejected is not None and "sequence 14" in result.snapshot_rejected
    assert result.state.hash() == fold_all(store, 20).hash()


def test_state_at_uses_a_snapshot_at_that_very_sequence(store: EventStore) -> None:
    f = build_log(store, trades=2)
    add_snapshot(store, f, 13)
    engine = ReplayEngine(store)
    at = engine.state_at(13)
    assert at.snapshot is not None and at.events_folded == 0
    assert at.state.hash() == fold_all(store, 13).hash()
    assert engine.state_at(0).state.hash() == SystemState().hash()


def test_time_range_resolves_to_a_contiguous_sequence_range(store: EventStore) -> None:
    build_log(store, trades=3)  # factory timestamps: START + 1 s per event, 19 events
    engine = ReplayEngine(store)
    first, last = engine.resolve_time_range(START + timedelta(seconds=5), START + timedelta(15))
    assert (first, last) == (6, 19)
    first, last = engine.resolve_time_range(
        START + timedelta(seconds=5), START + timedelta(seconds=10)
    )
    assert (first, last) == (6, 10)
    result = engine.replay_time(START, START + timedelta(seconds=3))
    assert (result.first_sequence, result.last_sequence) == (1, 3)
    as_of = engine.state_at_time(START + timedelta(seconds=7))
    assert as_of.state.last_sequence == 7


def test_empty_time_range_and_empty_store_are_named(store: EventStore) -> None:
    engine = ReplayEngine(store)
    with pytest.raises(NotFoundError, match="empty"):
        engine.replay(1, 10)
    build_log(store, trades=1)
    with pytest.raises(NotFoundError, match="no events recorded between"):
        engine.resolve_time_range(START + timedelta(days=3), None)
    with pytest.raises(NotFoundError, match="log ends at sequence 7"):
        engine.replay(8, 9)


def test_replay_runs_in_replay_mode_with_the_recorded_time(store: EventStore) -> None:
    build_log(store, trades=1)
    seen: list[tuple[bool, datetime]] = []

    def look(state: SystemState) -> None:
        seen.append((ReplayMode.active(), now()))

    ReplayEngine(store).replay(1, 7, checkpoints={3: look, 6: look})
    assert seen == [(True, START + timedelta(seconds=2)), (True, START + timedelta(seconds=5))]
    assert not ReplayMode.active()


def test_progress_reaches_the_total_and_batches_stream(store: EventStore) -> None:
    build_log(store, trades=5)
    calls: list[tuple[int, int]] = []
    result = ReplayEngine(store, batch_size=4).replay(
        1, 31, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (31, 31)
    assert [d for d, _ in calls[:-1]] == [4, 8, 12, 16, 20, 24, 28]
    assert result.state.hash() == fold_all(store, 31).hash()


def test_result_document_carries_the_rebuilt_risk_state_and_positions(
    store: EventStore,
) -> None:
    f = build_log(store, trades=1)
    store.append(round_trip(f, 50000, 50500)[:4])  # a position left open
    document = ReplayEngine(store).replay(1, 11).to_document()
    assert document["range"] == {"from_sequence": 1, "to_sequence": 11}
    assert document["risk_state"]["open_positions"] == 1
    assert document["positions"][0]["symbol"] == "BTCUSDT"
    assert document["positions"][0]["size"] == "0.5"
    assert document["snapshot_used"] is None
    assert document["blocked_calls"] == {}
