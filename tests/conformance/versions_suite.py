"""Old schema versions in every adapter: events stored as an older payload version are read as
the current one (upcast on read, before typing), by every read path; their stored bytes and the
hash chain stay as written; a version newer than the code knows is refused, naming it."""

from __future__ import annotations

import msgspec
import pytest

from claire.errors import EventConflictError
from claire.events import GENESIS_HASH, BaseEvent, EventType, canonical_bytes, chain_hash
from claire.events.versioning import SchemaVersionError
from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from rigs.factories import trade
from tests.fixtures.make_v1_log import as_version_1


def expected_reading(event: BaseEvent, sequence: int) -> BaseEvent:
    """What a reader sees of `event` stored as version 1: the event itself, except the signal's
    strategy parameters, which version 1 did not record (the upcaster gives them as empty)."""
    if event.event_type is EventType.SIGNAL_GENERATED:
        event = msgspec.structs.replace(event, payload={**event.payload, "strategy_params": {}})
    return event.with_sequence(sequence)


class SchemaVersionConformance:
    def test_old_versions_are_read_as_the_current_one(self, store: EventStore) -> None:
        current = trade()
        old = [as_version_1(e) for e in current]
        assert old[1].metadata.schema_version == old[2].metadata.schema_version == 1
        store.append(old)
        expected = [expected_reading(e, seq) for seq, e in enumerate(current, start=1)]

        read = list(store.read())
        assert read == expected
        assert [e.stored_schema_version for e in read] == [1, 1, 1, 1, 1]
        assert [e.metadata.schema_version for e in read] == [1, 2, 2, 1, 1]
        assert read[1].data.confidence == current[1].data.confidence  # type: ignore[attr-defined]
        assert read[2].data == current[2].data  # typed: the checks by name again
        assert [store.get(e.event_id) for e in current] == expected
        assert list(store.read(correlation_id=current[0].correlation_id)) == expected
        assert list(store.read(event_types=[EventType.RISK_DECISION])) == expected[2:3]
        assert list(store.read_time_range(None, None)) == expected
        kinds = [EventType.SIGNAL_GENERATED, EventType.RISK_DECISION]
        assert store.find_events(symbol="BTCUSDT", event_types=kinds) == expected[1:3]
        assert [c.event for c in store.chart_events("BTCUSDT")] == [expected[2], expected[4]]
        assert store.causation_chain(current[2].event_id) == expected[:3]
        assert store.effects(current[1].event_id) == expected[2:]

    def test_the_stored_bytes_and_the_chain_stay_as_written(self, store: EventStore) -> None:
        old = [as_version_1(e) for e in trade()]
        store.append(old)
        prev = GENESIS_HASH
        for record, event in zip(store.iter_records(), old, strict=True):
            assert record.canonical == canonical_bytes(event)  # version 1, as appended
            assert record.columns_canonical() == record.canonical
            assert record.hash == chain_hash(prev, record.canonical)
            prev = record.hash
        assert store.head().hash == prev
        assert b'"confidence":"85"' in next(store.iter_records(2, 2)).canonical

    def test_a_version_newer_than_the_code_is_refused_by_name(self, store: EventStore) -> None:
        events = trade()
        newer = msgspec.structs.replace(
            events[1], metadata=msgspec.structs.replace(events[1].metadata, schema_version=7)
        )
        message = (
            f"the stored event {newer.event_id} at sequence 2: signal_generated event of "
            "schema version 7 is newer than this code knows"
        )
        if _decodes_on_append(store):  # the memory store holds events decoded: it refuses here
            with pytest.raises(SchemaVersionError, match=message):
                store.append([events[0], newer])
            assert store.head().sequence_number == 0  # and stores nothing of the batch
            return
        store.append([events[0], newer])
        with pytest.raises(SchemaVersionError, match=message):
            list(store.read())
        with pytest.raises(SchemaVersionError, match="signal_generated event of schema version 7"):
            store.get(newer.event_id)
        assert [e.sequence_number for e in store.read(1, 1)] == [1]  # the rest reads on
        assert len(list(store.iter_records())) == 2  # verify reads the bytes, not the events

    def test_a_repeat_across_the_upgrade_is_the_same_event(self, store: EventStore) -> None:
        # Stored before versions were recorded; sent again now, the door records the version:
        # a retry or a redelivery, not a conflict (also once sealed in the archive).
        events = trade()
        unversioned = [
            msgspec.structs.replace(
                e, metadata=msgspec.structs.replace(e.metadata, schema_version=None)
            )
            for e in events
        ]
        assert store.append(unversioned) == [1, 2, 3, 4, 5]
        head = store.head()
        assert store.append(events) == [1, 2, 3, 4, 5]
        assert store.append(events, expected_sequence=0) == [1, 2, 3, 4, 5]
        assert store.head() == head
        changed = events[1].model_copy(update={"payload": {**events[1].payload, "reason": "x"}})
        with pytest.raises(EventConflictError, match=str(events[1].event_id)):
            store.append(changed)
        older = msgspec.structs.replace(
            events[1], metadata=msgspec.structs.replace(events[1].metadata, schema_version=1)
        )
        with pytest.raises(EventConflictError, match=str(events[1].event_id)):
            store.append(older)  # version 1 of a signal is another format: not the same event


def _decodes_on_append(store: EventStore) -> bool:
    inner = getattr(store, "hot", store)
    return isinstance(getattr(inner, "inner", inner), MemoryEventStore)
