"""The EventStore conformance suite: written once against the port, run for every adapter.

A subclass provides the `store` fixture (an empty store); every test here must pass for it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from claire.errors import (
    CausationError,
    ConcurrencyError,
    EventConflictError,
    EventValidationError,
    StoreError,
)
from claire.events import (
    GENESIS_HASH,
    BaseEvent,
    EventType,
    canonical_bytes,
    chain_hash,
)
from claire.store import EventReader, EventStore, EventWriter
from claire.store.memory import MemoryEventStore
from rigs.factories import START, factory, trade
from tests.conformance.strategies import event_batches


class StoreConformance:
    # --- append ------------------------------------------------------------------------------
    def test_empty_store_has_genesis_head(self, store: EventStore) -> None:
        head = store.head()
        assert (head.sequence_number, head.hash) == (0, GENESIS_HASH)
        assert list(store.read()) == []

    def test_append_assigns_gapless_sequence_from_one(self, store: EventStore) -> None:
        events = trade()
        assert store.append(events) == [1, 2, 3, 4, 5]
        assert store.append(trade()) == [6, 7, 8, 9, 10]
        assert [e.sequence_number for e in store.read()] == list(range(1, 11))

    def test_read_back_is_exact(self, store: EventStore) -> None:
        events = trade()
        store.append(events)
        back = list(store.read())
        assert [canonical_bytes(e) for e in back] == [canonical_bytes(e) for e in events]
        assert back[2].payload == events[2].payload
        assert back[2].data == events[2].data
        assert back[0].timestamp_utc == events[0].timestamp_utc

    def test_single_event_append(self, store: EventStore) -> None:
        md = trade()[0]
        assert store.append(md) == [1]
        assert store.get(md.event_id) == md.with_sequence(1)

    def test_append_is_idempotent_by_event_id(self, store: EventStore) -> None:
        events = trade()
        first = store.append(events)
        head = store.head()
        assert store.append(events) == first
        assert store.append(events[2]) == [3]
        assert store.head() == head

    def test_batch_mixing_stored_and_new_events(self, store: EventStore) -> None:
        events = trade()
        store.append(events[:2])
        assert store.append(events) == [1, 2, 3, 4, 5]

    def test_same_id_different_content_is_a_conflict(self, store: EventStore) -> None:
        events = trade()
        store.append(events)
        forged = events[0].model_copy(update={"payload": {**events[0].payload, "price": "1"}})
        with pytest.raises(EventConflictError, match=str(events[0].event_id)):
            store.append(forged)
        assert store.get(events[0].event_id) == events[0].with_sequence(1)

    def test_unknown_causation_is_refused_and_batch_stores_nothing(self, store: EventStore) -> None:
        f = factory()
        good = f.create_market_data(
            symbol="ETHUSDT", price=3000, volume=1, correlation_id=uuid.uuid4()
        )
        orphan = f.create_alert(
            level="WARNING",
            code="x",
            message="m",
            correlation_id=uuid.uuid4(),
            causation_id=uuid.uuid4(),
        )
        with pytest.raises(CausationError, match="causation_id"):
            store.append([good, orphan])
        assert store.head().sequence_number == 0
        assert store.get(good.event_id) is None

    def test_cause_must_come_earlier_in_the_batch(self, store: EventStore) -> None:
        md, sig, *_ = trade()
        with pytest.raises(CausationError, match="later event"):
            store.append([sig, md])
        assert store.append([md, sig]) == [1, 2]

    def test_cause_may_be_already_stored(self, store: EventStore) -> None:
        events = trade()
        store.append(events[:1])
        assert store.append(events[1:]) == [2, 3, 4, 5]

    def test_rejected_batch_leaves_no_hole(self, store: EventStore) -> None:
        store.append(trade())
        f = factory()
        orphan = f.create_alert(
            level="INFO",
            code="x",
            message="m",
            correlation_id=uuid.uuid4(),
            causation_id=uuid.uuid4(),
        )
        with pytest.raises(CausationError):
            store.append(orphan)
        assert store.append(trade()) == [6, 7, 8, 9, 10]

    def test_non_events_are_refused(self, store: EventStore) -> None:
        with pytest.raises(TypeError, match=r"events\[0\]"):
            store.append([{"event_id": "x"}])  # type: ignore[list-item]

    # --- conditional append (issue 15 §2) -----------------------------------------------------
    def test_conditional_append_at_the_expected_head(self, store: EventStore) -> None:
        writer = EventWriter(store)
        assert writer.write(trade(), expected_sequence=0) == [1, 2, 3, 4, 5]
        assert writer.write(trade(), expected_sequence=5) == [6, 7, 8, 9, 10]
        assert store.append(trade()[0], expected_sequence=10) == [11]
        assert store.head().sequence_number == 11

    def test_conditional_append_off_the_head_raises_and_stores_nothing(
        self, store: EventStore
    ) -> None:
        store.append(trade())
        head = store.head()
        for stale in (0, 4, 6, 99):  # behind the head, and ahead of it
            batch = trade()
            with pytest.raises(ConcurrencyError) as refused:
                EventWriter(store).write(batch, expected_sequence=stale)
            error = refused.value
            assert (error.kind, error.expected, error.actual) == ("sequence", stale, 5)
            assert isinstance(error, StoreError)
            message = str(error)
            assert f"expected_sequence {stale}" in message
            assert "head of the log is sequence 5" in message
            assert "nothing was stored" in message
            assert store.head() == head
            assert all(store.get(e.event_id) is None for e in batch)
        assert store.append(trade(), expected_sequence=5) == [6, 7, 8, 9, 10]

    def test_a_conditional_repeat_returns_the_stored_numbers(self, store: EventStore) -> None:
        events = trade()
        assert store.append(events, expected_sequence=0) == [1, 2, 3, 4, 5]
        head = store.head()
        # A retry of an append that succeeded (its answer lost) stores nothing: answered as
        # any repeat, whatever the head now is.
        assert store.append(events, expected_sequence=0) == [1, 2, 3, 4, 5]
        assert store.append(events[1:3], expected_version=0) == [2, 3]
        # Part stored, part new: the new part would be written, so the condition holds.
        more = trade()
        with pytest.raises(ConcurrencyError):
            store.append([*events, *more], expected_sequence=0)
        assert store.head() == head

    def test_expected_version_counts_the_correlation(self, store: EventStore) -> None:
        md, sig, risk, order, result = trade()
        assert store.append([md, sig], expected_version=0) == [1, 2]
        store.append(trade())  # another correlation's events do not count
        with pytest.raises(ConcurrencyError) as refused:
            store.append(risk, expected_version=1)
        error = refused.value
        assert (error.kind, error.expected, error.actual) == ("version", 1, 2)
        assert error.correlation_id == md.correlation_id
        assert f"2 events are stored under correlation_id {md.correlation_id}" in str(error)
        assert store.get(risk.event_id) is None
        assert store.append([risk, order], expected_version=2) == [8, 9]
        with pytest.raises(ConcurrencyError):
            store.append(result, expected_version=2, expected_sequence=9)  # version is stale
        with pytest.raises(ConcurrencyError):
            store.append(result, expected_version=4, expected_sequence=8)  # head is stale
        assert store.append(result, expected_version=4, expected_sequence=9) == [10]
        assert len(store.read_correlation(md.correlation_id)) == 5

    def test_expected_version_counts_events_of_any_age(self, store: EventStore) -> None:
        # The first trade ends far from the head (an archive-aware store has archived it).
        first = trade()
        store.append(first)
        for _ in range(3):
            store.append(trade())
        late = factory("late").create_alert(
            level="INFO", code="late", message="m", correlation_id=first[0].correlation_id
        )
        with pytest.raises(ConcurrencyError, match="5 events are stored under"):
            store.append(late, expected_version=4)
        assert store.append(late, expected_version=5) == [21]

    def test_expected_version_needs_one_correlation(self, store: EventStore) -> None:
        mixed = trade()[:2] + trade()[:2]
        with pytest.raises(ValueError, match="expected_version: the batch holds events of 2 "):
            store.append(mixed, expected_version=0)
        assert store.head().sequence_number == 0
        assert store.append(mixed, expected_sequence=0) == [1, 2, 3, 4]  # the log's head is

    @pytest.mark.parametrize("value", [-1, True, 1.0, "3"])
    def test_expectations_must_be_counts(self, store: EventStore, value: object) -> None:
        for name in ("expected_sequence", "expected_version"):
            with pytest.raises(ValueError, match=f"{name} must be an integer of 0 or more"):
                store.append(trade(), **{name: value})  # type: ignore[arg-type]
        assert store.head().sequence_number == 0

    # --- hash chain --------------------------------------------------------------------------
    def test_hash_chain_links_every_event(self, store: EventStore) -> None:
        events = trade() + trade()
        store.append(events[:5])
        store.append(events[5:])
        records = list(store.iter_records())
        prev = GENESIS_HASH
        for record, event in zip(records, events, strict=True):
            assert record.prev_hash == prev
            assert record.canonical == canonical_bytes(event)
            assert record.columns_canonical() == record.canonical
            assert record.hash == chain_hash(prev, record.canonical)
            prev = record.hash
        assert store.head().hash == prev

    def test_linked_records_carry_the_successors_prev_hash(self, store: EventStore) -> None:
        store.append(trade() + trade())
        records = {r.sequence_number: r for r in store.iter_records()}
        linked = store.linked_records({1, 5, 10, 11, 40})
        assert sorted(linked) == [1, 5, 10]  # sequences that are not stored are left out
        for seq in (1, 5):
            assert linked[seq].record == records[seq]
            assert linked[seq].next_prev_hash == records[seq].hash == records[seq + 1].prev_hash
            assert not linked[seq].is_last
        assert (linked[10].next_prev_hash, linked[10].is_last) == (None, True)
        assert store.linked_records([]) == {}

    def test_hashes_are_the_same_in_every_adapter(self, store: EventStore) -> None:
        events = trade() + trade()
        reference = MemoryEventStore()
        reference.append(events)
        store.append(events)
        assert store.head() == reference.head()

    # --- timestamps from the future (issue 12 §6) --------------------------------------------
    def test_timestamps_beyond_the_skew_are_refused_naming_field_and_skew(
        self, store: EventStore
    ) -> None:
        store.receiving_clock = lambda: START
        early = factory("ok", start=START + timedelta(minutes=4)).create_alert(
            level="INFO", code="ok", message="within the skew", correlation_id=uuid.uuid4()
        )
        late = factory("late", start=START + timedelta(minutes=5, seconds=1)).create_alert(
            level="INFO", code="late", message="beyond the skew", correlation_id=uuid.uuid4()
        )
        with pytest.raises(EventValidationError) as refused:
            store.append([early, late])
        [(field, reason)] = refused.value.problems
        assert field == "events[1].timestamp_utc"
        assert "2025-02-14T13:05:01.000000Z is 301 s ahead of the receiving clock" in reason
        assert "at most 300 s ahead is accepted (CLAIRE_MAX_FUTURE_SKEW)" in reason
        assert store.head().sequence_number == 0  # nothing of the batch
        past = factory("history", start=START.replace(year=2001)).create_alert(
            level="INFO", code="old", message="historical data", correlation_id=uuid.uuid4()
        )
        assert store.append([early, past]) == [1, 2]

    def test_the_skew_is_configurable(self, store: EventStore) -> None:
        store.receiving_clock = lambda: START
        far = factory("far", start=START.replace(year=9999, month=12, day=31)).create_alert(
            level="INFO", code="far", message="the edge of time", correlation_id=uuid.uuid4()
        )
        store.max_future_skew = timedelta(days=1)
        with pytest.raises(EventValidationError, match="at most 86,400 s ahead"):
            store.append(far)
        store.max_future_skew = None  # off
        assert store.append(far) == [1]
        assert next(store.read()).timestamp_utc == far.timestamp_utc

    # --- reads -------------------------------------------------------------------------------
    def test_read_range_limit_and_small_batches(self, store: EventStore) -> None:
        for _ in range(4):
            store.append(trade())
        assert [e.sequence_number for e in store.read(3, 7)] == [3, 4, 5, 6, 7]
        assert [e.sequence_number for e in store.read(3, limit=2)] == [3, 4]
        streamed = [e.sequence_number for e in store.read(2, 19, batch_size=3)]
        assert streamed == list(range(2, 20))
        assert list(store.read(21)) == []

    def test_read_filters(self, store: EventStore) -> None:
        first, second = trade(), trade()
        store.append(first + second)
        signals = list(store.read(event_types=[EventType.SIGNAL_GENERATED]))
        assert [e.sequence_number for e in signals] == [2, 7]
        mine = store.read_correlation(second[0].correlation_id)
        assert [e.event_id for e in mine] == [e.event_id for e in second]
        limited = list(store.read(event_types=[EventType.SIGNAL_GENERATED], limit=1, batch_size=1))
        assert [e.sequence_number for e in limited] == [2]

    def test_bad_ranges_are_refused(self, store: EventStore) -> None:
        with pytest.raises(StoreError, match="empty range"):
            list(store.read(5, 4))
        with pytest.raises(StoreError, match="from_sequence"):
            list(store.read(0))

    def test_seed_reader_and_writer(self, store: EventStore) -> None:
        assert EventWriter(store).write(trade()) == [1, 2, 3, 4, 5]
        read = list(EventReader(store).read_events(from_sequence=1, to_sequence=10000, limit=10000))
        assert len(read) == 5

    def test_read_time_range(self, store: EventStore) -> None:
        store.append(trade())  # timestamps START + 0..4 s
        window = store.read_time_range(START + timedelta(seconds=1), START + timedelta(seconds=3))
        assert [e.sequence_number for e in window] == [2, 3]
        assert len(list(store.read_time_range(None, None))) == 5

    def test_get_unknown_is_none(self, store: EventStore) -> None:
        assert store.get(uuid.uuid4()) is None

    def test_causation_chain_and_effects(self, store: EventStore) -> None:
        events = trade()
        store.append(events)
        chain = store.causation_chain(events[2].event_id)
        assert [e.event_type for e in chain] == [
            EventType.MARKET_DATA,
            EventType.SIGNAL_GENERATED,
            EventType.RISK_DECISION,
        ]
        caused = store.effects(events[2].event_id)
        assert [e.sequence_number for e in caused] == [4, 5]
        assert store.causation_chain(uuid.uuid4()) == []
        assert store.effects(events[4].event_id) == []

    def test_stats_per_type_and_window(self, store: EventStore) -> None:
        store.append(trade())
        stats = {s.event_type: s for s in store.stats()}
        assert stats["market_data"].count == 1
        assert stats["order_result"].last == START + timedelta(seconds=4)
        windowed = store.stats(since=START + timedelta(seconds=3))
        assert sorted(s.event_type for s in windowed) == ["order_request", "order_result"]

    def test_latest_snapshot_at_or_below(self, store: EventStore) -> None:
        f = factory()
        store.append(trade(f))
        corr = uuid.uuid4()
        snaps = [
            f.create_state_snapshot(
                at_sequence=at, state={"n": at}, state_hash="a" * 64, correlation_id=corr
            )
            for at in (5, 7)
        ]
        store.append(snaps[0])
        store.append(trade(f)[:1])
        store.append(snaps[1])
        assert store.latest_snapshot(4) is None
        assert store.latest_snapshot(6).payload["at_sequence"] == 5  # type: ignore[union-attr]
        assert store.latest_snapshot(100).payload["at_sequence"] == 7  # type: ignore[union-attr]

    def test_the_first_snapshot_written_for_a_point_wins(self, store: EventStore) -> None:
        f = factory()
        store.append(trade(f))
        corr = uuid.uuid4()

        def snapshot(n: int) -> BaseEvent:
            return f.create_state_snapshot(
                at_sequence=5, state={"n": n}, state_hash="a" * 64, correlation_id=corr
            )

        store.append(snapshot(1))  # sequence 6, the pipeline's
        store.append(snapshot(2))  # sequence 7: a later row for the same point
        chosen = store.latest_snapshot(100)
        assert chosen is not None
        assert (chosen.sequence_number, chosen.payload["state"]) == (6, {"n": 1})

    def test_a_snapshot_must_describe_a_point_before_its_own_position(
        self, store: EventStore
    ) -> None:
        f = factory()
        store.append(trade(f))
        corr = uuid.uuid4()
        for at, batch_index in ((6, 0), (7, 1), (99, 0)):
            events = [*trade(f)[:batch_index]]
            events.append(
                f.create_state_snapshot(
                    at_sequence=at, state={}, state_hash="a" * 64, correlation_id=corr
                )
            )
            with pytest.raises(EventValidationError) as refused:
                store.append(events)
            assert refused.value.problems[0][0] == f"events[{batch_index}].payload.at_sequence"
            assert "not before the snapshot's own position" in str(refused.value)
            assert store.head().sequence_number == 5  # the whole batch refused
        assert store.latest_snapshot(100) is None

    # --- the decode path, property-based ----------------------------------------------------
    @settings(
        max_examples=25,
        deadline=None,
        # One store per test, shared by its examples; the same test runs in each adapter's class.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(batch=event_batches())
    def test_every_event_type_round_trips_exactly(
        self, store: EventStore, batch: list[BaseEvent]
    ) -> None:
        first = store.head().sequence_number + 1
        numbers = store.append(batch)
        assert numbers == list(range(first, first + len(batch)))
        back = list(store.read(first, numbers[-1], batch_size=3))
        assert back == [event.with_sequence(n) for event, n in zip(batch, numbers, strict=True)]
        for got, sent in zip(back, batch, strict=True):
            assert canonical_bytes(got) == canonical_bytes(sent)
            assert got.payload == sent.payload
            assert got.data == sent.data
            assert got.metadata == sent.metadata
            assert got.timestamp_utc == sent.timestamp_utc
            assert got.timestamp_utc.utcoffset() == timedelta(0)
        assert store.get(batch[-1].event_id) == back[-1]
        assert store.causation_chain(batch[-2].event_id) == back[:-1]
