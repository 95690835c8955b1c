"""The event model at the door: exact decimals, clear refusals, one canonical encoding."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claire import EventFactory, Side, get_clock
from claire.errors import EventValidationError
from claire.events import (
    BaseEvent,
    EventType,
    canonical_bytes,
    decode_event,
    parse_event_json,
)
from rigs.factories import factory, trade


def _raw(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "market_data",
        "timestamp_utc": "2025-02-14T13:05:00Z",
        "timestamp_logical": 1,
        "causation_id": None,
        "correlation_id": str(uuid.uuid4()),
        "metadata": {"service": "cdb_core", "version": "1.0.0"},
        "payload": {"symbol": "BTCUSDT", "price": "50000", "volume": "1500"},
    }
    event.update(changes)
    return event


def _fields(exc: pytest.ExceptionInfo[EventValidationError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_seed_example_works_with_floats_converted_exactly() -> None:
    factory = EventFactory(service_name="cdb_risk", version="1.0.0")
    trade_id = uuid.uuid4()
    md = factory.create_market_data(
        symbol="BTCUSDT", price=50000.0, volume=1500, correlation_id=trade_id
    )
    signal = factory.create_signal(
        symbol="BTCUSDT",
        side=Side.BUY,
        confidence=0.85,
        reason="Strong momentum",
        price=50000.0,
        strategy_params={"momentum_threshold": 3.0},
        correlation_id=trade_id,
        causation_id=md.event_id,
    )
    assert signal.payload["confidence"] == "0.85"
    assert signal.data.confidence == Decimal("0.85")  # type: ignore[attr-defined]
    assert signal.payload["strategy_params"] == {"momentum_threshold": "3.0"}
    assert signal.causation_id == md.event_id
    assert signal.timestamp_logical > md.timestamp_logical
    assert signal.timestamp_utc.tzinfo is not None


def test_point_one_is_not_the_binary_expansion() -> None:
    event = factory().create_market_data(
        symbol="X", price=0.1, volume=0.3, correlation_id=uuid.uuid4()
    )
    assert event.payload["price"] == "0.1"
    assert event.payload["volume"] == "0.3"


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"price": float("nan")}, "payload.price", "not a finite number"),
        ({"price": float("inf")}, "payload.price", "not a finite number"),
        ({"price": "Infinity"}, "payload.price", "not a decimal number in positional notation"),
        ({"price": "fifty"}, "payload.price", "not a decimal number"),
        # Decimal text is taken in the one form the OpenAPI document publishes.
        ({"price": " 1.5"}, "payload.price", "not a decimal number in positional notation"),
        ({"price": "15E-1"}, "payload.price", "not a decimal number in positional notation"),
        ({"price": "01.5"}, "payload.price", "not a decimal number in positional notation"),
        ({"volume": "1" * 42}, "payload.volume", "within 40 digits of the point"),
        ({"price": -5}, "payload.price", "greater than 0"),
        ({"price": True}, "payload.price", "boolean"),
        ({"volume": 1e300}, "payload.volume", "out of range"),
        ({"volume": 1e-41}, "payload.volume", "out of range"),
        ({"surprise": 1}, "payload.surprise", "Extra inputs"),
        ({"symbol": "BTC\x00"}, "payload.symbol", "pattern"),
    ],
)
def test_bad_payload_values_name_field_and_reason(
    payload: dict[str, Any], field: str, reason: str
) -> None:
    raw = _raw()
    raw["payload"] = {**raw["payload"], **payload}
    with pytest.raises(EventValidationError) as exc:
        BaseEvent.parse(raw)
    assert reason in _fields(exc)[field]


def test_missing_payload_field_is_named() -> None:
    raw = _raw(payload={"symbol": "BTCUSDT", "volume": "1"})
    with pytest.raises(EventValidationError) as exc:
        BaseEvent.parse(raw)
    assert "Field required" in _fields(exc)["payload.price"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"event_type": "coffee_break"}, "event_type", "Input should be"),
        ({"timestamp_utc": "2025-02-14T13:05:00"}, "timestamp_utc", "timezone-aware"),
        ({"timestamp_utc": "yesterday"}, "timestamp_utc", "not an RFC 3339 timestamp"),
        ({"timestamp_utc": "2025-02-14 13:05:00Z"}, "timestamp_utc", "not an RFC 3339 timestamp"),
        ({"timestamp_utc": "0001-01-01T00:00:01+01:02"}, "timestamp_utc", "write it in UTC"),
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
        ({"correlation_id": None}, "correlation_id", "UUID"),
        ({"timestamp_logical": -1}, "timestamp_logical", "greater than or equal to 0"),
        ({"timestamp_logical": "5"}, "timestamp_logical", "valid integer"),
        ({"timestamp_logical": True}, "timestamp_logical", "valid integer"),
        ({"metadata": {"service": "x"}}, "metadata.version", "Field required"),
    ],
)
def test_bad_envelope_names_field_and_reason(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(EventValidationError) as exc:
        BaseEvent.parse(_raw(**changes))
    assert reason in _fields(exc)[field]


def test_event_cannot_cause_itself() -> None:
    event_id = str(uuid.uuid4())
    with pytest.raises(EventValidationError, match="cannot cause itself"):
        BaseEvent.parse(_raw(event_id=event_id, causation_id=event_id))


def test_payload_must_match_its_type() -> None:
    raw = _raw(event_type="signal_generated")
    with pytest.raises(EventValidationError) as exc:
        BaseEvent.parse(raw)
    assert "payload.side" in _fields(exc)


def test_factory_refuses_unknown_type_and_bad_ids() -> None:
    f = factory()
    with pytest.raises(EventValidationError, match="event_type"):
        f.create("coffee_break", {}, correlation_id=uuid.uuid4())
    with pytest.raises(EventValidationError, match="correlation_id"):
        f.create_alert(level="INFO", code="c", message="m", correlation_id="nope")
    with pytest.raises(EventValidationError, match="timestamp_utc"):
        f.create_alert(
            level="INFO",
            code="c",
            message="m",
            correlation_id=uuid.uuid4(),
            timestamp_utc=datetime(2025, 1, 1),
        )


def test_timestamps_normalise_to_utc_with_microseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    event = BaseEvent.parse(_raw(timestamp_utc=datetime(2025, 2, 14, 15, 5, tzinfo=plus_two)))
    assert event.timestamp_utc == datetime(2025, 2, 14, 13, 5, tzinfo=UTC)
    assert b'"timestamp_utc":"2025-02-14T13:05:00.000000Z"' in canonical_bytes(event)


def test_canonical_encoding_is_sorted_and_round_trips() -> None:
    for event in trade():
        data = canonical_bytes(event)
        back = decode_event(data)
        assert back == event
        assert canonical_bytes(back) == data
        assert parse_event_json(data) == event
    keys = list(parse_event_json(canonical_bytes(trade()[0])).model_dump())
    assert keys[0] == "event_id"  # model order is preserved; the bytes are sorted
    assert canonical_bytes(trade()[0]).startswith(b'{"causation_id":')


def test_equal_values_encode_to_equal_bytes() -> None:
    a = BaseEvent.parse(_raw(payload={"symbol": "X", "price": 50000.0, "volume": 1}))
    b = BaseEvent.parse(
        _raw(
            payload={"symbol": "X", "price": "50000.0", "volume": "1"},
            event_id=str(a.event_id),
            correlation_id=str(a.correlation_id),
        )
    )
    assert canonical_bytes(a) == canonical_bytes(b)


def test_parse_event_json_refuses_non_objects() -> None:
    with pytest.raises(EventValidationError, match="not valid JSON"):
        parse_event_json(b"{nope")
    with pytest.raises(EventValidationError, match="JSON object"):
        parse_event_json(b"[1, 2]")


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, min_value=Decimal("1e-20"), max_value=Decimal("1e20")
    )
)
def test_any_positive_decimal_price_round_trips_exactly(price: Decimal) -> None:
    event = factory().create_market_data(
        symbol="X", price=price, volume=0, correlation_id=uuid.uuid4()
    )
    back = decode_event(canonical_bytes(event))
    assert back.data.price == price  # type: ignore[attr-defined]
    assert canonical_bytes(back) == canonical_bytes(event)


def test_every_event_type_has_a_factory_method() -> None:
    f = factory()
    for kind in EventType:
        assert callable(getattr(f, f"create_{kind.value.removesuffix('_generated')}"))
    assert get_clock() is get_clock()


def test_random_event_ids_are_unique_and_fork_safe() -> None:
    import multiprocessing

    from claire.events.factory import random_event_id

    parent = [random_event_id() for _ in range(10)]
    assert len(set(parent)) == 10
    assert all(i.version == 4 for i in parent)
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map(_ids, [5, 5])
    everything = parent + [random_event_id() for _ in range(5)] + children[0] + children[1]
    assert len(set(everything)) == len(everything)


def _ids(count: int) -> list[uuid.UUID]:
    from claire.events.factory import random_event_id

    return [random_event_id() for _ in range(count)]


def test_integers_beyond_64_bits_are_refused_not_rounded() -> None:
    payload = {
        "symbol": "X",
        "side": "BUY",
        "confidence": "0.5",
        "reason": "r",
        "price": "1",
        "strategy_params": {"lookback": 2**64},
    }
    raw = _raw(event_type="signal_generated", payload=payload)
    # orjson alone reads 2**64 as a float, which would be stored as "18446744073709552000".
    with pytest.raises(EventValidationError) as exc:
        parse_event_json(json.dumps(raw).encode())
    assert "beyond 64 bits" in _fields(exc)["payload.strategy_params"]
