"""Statistics windows over recorded time, and the exported JSON Schema against real events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from claire.audit.schema import event_type_schema, events_schema, schema_files
from claire.audit.stats import WindowBasis, event_stats
from claire.audit.summary import event_document
from claire.events import EventType, Side
from claire.events.versions import VERSIONS
from claire.store import EventStore, open_store
from rigs.factories import factory, trade

DAY_ONE = datetime(2025, 2, 13, 9, 0, tzinfo=UTC)
DAY_TWO = datetime(2025, 2, 14, 13, 0, tzinfo=UTC)


def _store_over_two_days() -> EventStore:
    store = open_store("memory://")
    store.append(trade(factory(start=DAY_ONE)))  # more than 24 h before the newest event
    f = factory(start=DAY_TWO)
    store.append(trade(f))
    store.append(trade(f, "ETHUSDT"))
    return store


def test_default_window_is_24h_of_recorded_time_up_to_newest_event() -> None:
    store = _store_over_two_days()
    stats = event_stats(store)
    assert stats.basis is WindowBasis.RECORDED_24H
    assert stats.until == DAY_TWO + timedelta(seconds=9, microseconds=1)
    assert stats.total == 10  # the day-one trade is outside
    assert [row.event_type for row in stats.rows] == [
        "market_data",
        "signal_generated",
        "risk_decision",
        "order_request",
        "order_result",
    ]
    assert stats.rows[0].first == DAY_TWO and stats.rows[-1].last == DAY_TWO + timedelta(seconds=9)


def test_all_and_explicit_windows() -> None:
    store = _store_over_two_days()
    assert event_stats(store, all_events=True).total == 15
    day_one = event_stats(store, DAY_ONE, DAY_ONE + timedelta(days=1))
    assert day_one.basis is WindowBasis.EXPLICIT and day_one.total == 5
    document = day_one.to_document()
    assert document["window"]["since"] == "2025-02-13T09:00:00.000000Z"
    assert document["event_types"][2] == {
        "event_type": "risk_decision",
        "count": 1,
        "first_event": "2025-02-13T09:00:02.000000Z",
        "last_event": "2025-02-13T09:00:02.000000Z",
    }


def test_empty_store_has_no_rows() -> None:
    stats = event_stats(open_store("memory://"))
    assert stats.rows == [] and stats.total == 0


def _all_kinds_of_events() -> list[dict[str, object]]:
    f = factory()
    events = trade(f)
    md = events[0]
    extra = [
        f.create_position_update(
            symbol="BTCUSDT",
            side=Side.BUY,
            status="OPENED",
            size="0.2",
            entry_price="50010",
            correlation_id=md.correlation_id,
            causation_id=events[-1].event_id,
        ),
        f.create_alert(
            level="WARNING", code="LAG", message="feed lag", correlation_id=md.correlation_id
        ),
        f.create_state_snapshot(
            at_sequence=7,
            state={"equity": "1"},
            state_hash="a" * 64,
            correlation_id=md.correlation_id,
        ),
    ]
    documents = [event_document(e.with_sequence(i)) for i, e in enumerate([*events, *extra], 1)]
    assert {d["event_type"] for d in documents} == {k.value for k in EventType}
    return documents


def test_schema_is_valid_and_accepts_every_stored_event_type() -> None:
    schema = events_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for document in _all_kinds_of_events():
        validator.validate(document)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("payload", "side"), "LONG"),
        (("payload", "price"), 50000.0),  # money is decimal text, never a JSON number
        (("event_type",), "order_result"),  # a market_data payload under another type
        (("timestamp_utc",), "2025-02-14 13:00:00"),
    ],
)
def test_schema_refuses_malformed_events(path: tuple[str, ...], value: object) -> None:
    documents = _all_kinds_of_events()
    target = documents[1] if path == ("payload", "side") else documents[0]
    node: dict[str, object] = target
    for key in path[:-1]:
        node = node[key]  # type: ignore[assignment]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(target, events_schema())


def test_one_file_per_event_type_validates_only_its_type() -> None:
    files = schema_files()
    assert sorted(files) == sorted(
        [
            "events.schema.json",
            *(f"{k.value}.schema.json" for k in EventType),
            *(
                f"versions/{k.value}/v{v}.schema.json"
                for k in EventType
                for v in VERSIONS.versions(k)
            ),
        ]
    )
    documents = _all_kinds_of_events()
    jsonschema.validate(documents[2], event_type_schema(EventType.RISK_DECISION))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(documents[0], event_type_schema(EventType.RISK_DECISION))
