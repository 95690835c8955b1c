"""Recording through the pipeline into real stores: determinism, causation, snapshots, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from claire.errors import StoreError
from claire.events import BaseEvent, EventFactory, EventType
from claire.events.codec import canonical_document
from claire.pipeline import (
    MarketDataError,
    PipelineConfig,
    SessionResult,
    rebuild_state,
    record_csv,
    record_demo,
)
from claire.state.model import SystemState
from claire.store import EventStore, open_store
from claire.store.memory import MemoryEventStore
from claire.store.port import Batch, Expectation

BARS = 1500  # per symbol: 4,500 bars, about 4,600 events
CONFIG = PipelineConfig().with_overrides(
    {"session.snapshot_every": "500", "session.batch_size": "300"}
)


def record(store: EventStore) -> SessionResult:
    return record_demo(store, CONFIG, bars_per_symbol=BARS)


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EventStore, SessionResult]]:
    path = tmp_path_factory.mktemp("recorded") / "events.db"
    with open_store(f"sqlite:///{path}", create=True) as store:
        yield store, record(store)


def comparable(events: list[BaseEvent]) -> list[dict[str, Any]]:
    """Each event without its id; a causation id becomes the position of the cause."""
    position = {e.event_id: i for i, e in enumerate(events)}
    documents = []
    for event in events:
        document = canonical_document(event)
        del document["event_id"], document["timestamp_utc"]
        document["sequence_number"] = event.sequence_number
        cause = event.causation_id
        document["causation_id"] = None if cause is None else position[cause]
        documents.append(document)
    return documents


def test_the_session_has_trades_rejections_and_stop_losses(
    recorded: tuple[EventStore, SessionResult],
) -> None:
    store, result = recorded
    assert result.entries_approved > 0
    assert result.entries_rejected > 0
    assert result.stop_losses > 0
    assert result.total_events == store.head().sequence_number
    counts = {s.event_type: s.count for s in store.stats()}
    assert counts["market_data"] == 3 * BARS
    assert counts["risk_decision"] == result.entries_approved + result.entries_rejected + (
        result.stop_losses + result.take_profits
    )
    first = next(store.read(1, 1))
    assert first.payload["code"] == "session_started"
    assert first.payload["context"]["config"] == CONFIG.to_document()


def test_same_inputs_give_the_same_events_across_runs_and_stores(
    recorded: tuple[EventStore, SessionResult], tmp_path: Path, pg_url: str
) -> None:
    reference = comparable(list(recorded[0].read()))
    with open_store(f"sqlite:///{tmp_path / 'again.db'}", create=True) as again:
        record(again)
        assert comparable(list(again.read())) == reference
    with open_store(pg_url, create=True) as postgres:
        postgres.migrate()
        record(postgres)
        assert comparable(list(postgres.read())) == reference


def test_every_order_descends_from_an_approved_risk_decision(
    recorded: tuple[EventStore, SessionResult],
) -> None:
    store = recorded[0]
    requests = list(store.read(event_types=[EventType.ORDER_REQUEST]))
    results = list(store.read(event_types=[EventType.ORDER_RESULT]))
    assert requests and len(results) == len(requests)
    for order in requests:
        ancestors = store.causation_chain(order.event_id)[:-1]
        decisions = [e for e in ancestors if e.event_type is EventType.RISK_DECISION]
        assert decisions and decisions[-1].payload["approved"] is True
        assert ancestors[0].event_type is EventType.MARKET_DATA
    for result in results:
        ancestors = store.causation_chain(result.event_id)[:-1]
        assert ancestors[-1].event_type is EventType.ORDER_REQUEST
        assert ancestors[-1].payload["order_id"] == result.payload["order_id"]


def test_each_trade_shares_one_correlation_id_from_market_data_to_close(
    recorded: tuple[EventStore, SessionResult],
) -> None:
    store = recorded[0]
    closes = [
        e
        for e in store.read(event_types=[EventType.POSITION_UPDATE])
        if e.payload["status"] == "CLOSED"
    ]
    assert closes
    for close in closes:
        chain = store.causation_chain(close.event_id)
        # The close descends from the market data that triggered it (that bar's own id) ...
        assert {e.correlation_id for e in chain[1:]} == {close.correlation_id}
        trade = store.read_correlation(close.correlation_id)
        kinds = [e.event_type.value for e in trade]
        # The trade starts with the market data that triggered its signal, then opens and closes.
        assert kinds[:6] == [
            "market_data",
            "signal_generated",
            "risk_decision",
            "order_request",
            "order_result",
            "position_update",
        ]
        assert trade[5].payload["status"] == "OPENED"
        assert trade[-1].event_type in (EventType.POSITION_UPDATE, EventType.ALERT)
        # ... a later bar of the same symbol.
        root = chain[0]
        assert root.event_type is EventType.MARKET_DATA
        assert root.payload["symbol"] == close.payload["symbol"]


def test_snapshot_hashes_equal_the_state_folded_from_the_start(
    recorded: tuple[EventStore, SessionResult],
) -> None:
    store, result = recorded
    snapshots = {
        e.payload["at_sequence"]: e.payload["state_hash"]
        for e in store.read(event_types=[EventType.STATE_SNAPSHOT])
    }
    assert len(snapshots) == result.snapshots >= 9
    state, checked = SystemState(), 0
    for event in store.read():
        state.apply(event)
        expected = snapshots.get(event.sequence_number or 0)
        if expected is not None:
            assert state.hash() == expected, f"snapshot at {event.sequence_number}"
            checked += 1
    assert checked == len(snapshots)
    assert rebuild_state(store).hash() == state.hash()


def test_a_second_session_continues_the_first(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'two.db'}", create=True) as store:
        first = record(store)
        carried = {UUID(p.correlation_id) for p in first.state.positions.values()}
        second = record(store)
        events = list(store.read())
    assert second.first_sequence == first.last_sequence + 1
    assert second.session_id != first.session_id
    assert second.starting_equity == first.ending_equity
    start = events[second.first_sequence - 1]
    assert start.payload["code"] == "session_started"
    assert start.payload["context"]["parameters"]["day"] == "2025-02-15"
    logical = [e.timestamp_logical for e in events]
    assert logical == sorted(logical) and len(set(logical)) == len(logical)
    times = [e.timestamp_utc for e in events]
    assert times == sorted(times)
    one = {e.correlation_id for e in events[: first.last_sequence]}
    two = {e.correlation_id for e in events[first.last_sequence :]}
    # Only a position still open when the first session ended continues its trade id.
    assert one & two <= carried
    state = SystemState()
    snapshots = {
        e.payload["at_sequence"]: e.payload["state_hash"]
        for e in events
        if e.event_type is EventType.STATE_SNAPSHOT
    }
    for event in events:
        state.apply(event)
        if (event.sequence_number or 0) in snapshots:
            assert state.hash() == snapshots[event.sequence_number or 0]


def test_a_malformed_csv_stores_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"2025-03-01 00:{m:02d}:00,100,101,99,100.5,10" for m in range(40)]
    good.write_text("\n".join(rows) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*rows[:30], "2025-03-01 01:00:00,100,101,99,oops,10"]) + "\n")
    with open_store(f"sqlite:///{tmp_path / 'csv.db'}", create=True) as store:
        result = record_csv(store, good, "TESTUSD")
        head = store.head()
        assert head.sequence_number == result.last_sequence > 40
        with pytest.raises(MarketDataError, match="line 31: column close: 'oops'"):
            record_csv(store, bad, "TESTUSD")
        assert store.head() == head
        sources = {e.payload["source"] for e in store.read(event_types=[EventType.MARKET_DATA])}
    assert sources == {"csv:good.csv"}
    assert isinstance(result.session_id, UUID)


class _Interloper(MemoryEventStore):
    """A store where someone else appends one event just before the recorder's sixth batch."""

    calls = 0

    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        self.calls += 1
        if self.calls == 6:
            stranger = EventFactory("someone-else", "1").create_alert(
                level="INFO", code="hello", message="interleaved", correlation_id=uuid4()
            )
            super()._append(Batch.of(stranger))
        return super()._append(batch, expect)


def test_recording_stops_when_another_writer_interleaves() -> None:
    store = _Interloper("memory://")
    with pytest.raises(StoreError, match="another writer appended to the store"):
        record(store)
    # Nothing of the refused batch or after it was stored (the append was conditional on the
    # head the session predicted), so every stored snapshot still holds.
    assert store.calls == 6
    assert [e.metadata.service for e in store.read()][-1] == "someone-else"
    snapshots = {
        e.payload["at_sequence"]: e.payload["state_hash"]
        for e in store.read(event_types=[EventType.STATE_SNAPSHOT])
    }
    assert snapshots
    state = SystemState()
    for event in store.read():
        state.apply(event)
        if (event.sequence_number or 0) in snapshots:
            assert state.hash() == snapshots[event.sequence_number or 0]
