"""Malformed events thrown at the Python API on SQLite and PostgreSQL (property-based).

Every bad input must end in one of the project's errors naming the field and the reason; the
stored log must stay exactly as it was and still verify. Inputs that are merely unusual (RTL
text, emoji, combining marks, deep-but-allowed nesting) must be stored and read back byte-exact.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claire.audit.verify import verify_log
from claire.errors import CausationError, ClaireError, EventConflictError, EventValidationError
from claire.events import BaseEvent, EventFactory
from claire.events.codec import (
    MAX_EVENT_BYTES,
    canonical_bytes,
    canonical_document,
    parse_event_json,
)
from claire.events.payloads import EventType
from claire.events.values import MAX_NESTING_DEPTH
from claire.store.port import EventStore, Head
from rigs.factories import factory, trade

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the suite must be reproducible: same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REQUIRED_TOP_LEVEL = (
    "event_id",
    "event_type",
    "timestamp_utc",
    "timestamp_logical",
    "correlation_id",
    "metadata",
    "payload",
)
DECIMAL_FIELDS = {  # (event index in `sample_events`, payload field holding money or a size)
    "market_data.price": (0, "price"),
    "signal.confidence": (1, "confidence"),
    "risk.position_size": (2, "position_size"),
    "order.size": (3, "size"),
    "result.fee": (4, "fee"),
}
TEXT_FIELDS = {  # where free text goes: (event index, path inside the document)
    "signal.reason": (1, ("payload", "reason")),
    "risk.reason": (2, ("payload", "reason")),
    "alert.message": (5, ("payload", "message")),
    "metadata.service": (0, ("metadata", "service")),
}


def sample_events(f: EventFactory | None = None) -> list[BaseEvent]:
    """One trade (5 types) plus an alert, a position update and a snapshot: every type."""
    f = f or factory("bad-input")
    events = trade(f)
    corr = events[0].correlation_id
    events.append(
        f.create_alert(
            level="WARNING", code="LAG", message="feed lagging", context={}, correlation_id=corr
        )
    )
    events.append(
        f.create_position_update(
            symbol="BTCUSDT",
            side="BUY",
            status="OPENED",
            size=Decimal("0.2"),
            entry_price=Decimal("50010"),
            correlation_id=corr,
            causation_id=events[4].event_id,
        )
    )
    events.append(
        f.create_state_snapshot(
            at_sequence=7, state={"positions": {}}, state_hash="a" * 64, correlation_id=corr
        )
    )
    return events


def documents() -> list[dict[str, Any]]:
    return [canonical_document(e) for e in sample_events()]


# --- the store under attack --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    from claire.store.facade import open_store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bad_input.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = open_store(url, create=True)
    opened.append(sample_events())
    opened.append(trade())
    try:
        yield opened
    finally:
        opened.close()


def assert_log_intact(store: EventStore, before: Head) -> None:
    """Nothing was added or changed, and the chain still verifies end to end."""
    assert store.head() == before
    report = verify_log(store)
    assert report.ok, report.to_document()
    assert report.checked == before.sequence_number


def assert_clear(error: ClaireError, *fields: str) -> None:
    """A clear error: names at least one field (one of `fields` when given) and a reason."""
    text = str(error)
    assert text.strip(), "an error without a message"
    if isinstance(error, EventValidationError):
        assert error.problems, "EventValidationError without problems"
        for field, reason in error.problems:
            assert field and reason, error.problems
        if fields:
            named = [f for f, _ in error.problems]
            assert any(any(f.startswith(w) for w in fields) for f in named), (fields, named)
    elif fields:
        assert any(f in text for f in fields), (fields, text)


def rejected(store: EventStore, attempt: Callable[[], Any], *fields: str) -> ClaireError:
    """Run an attempt that must fail with a clear error and leave the log untouched."""
    before = store.head()
    with pytest.raises(ClaireError) as caught:
        attempt()
    assert_clear(caught.value, *fields)
    assert_log_intact(store, before)
    return caught.value


def stored_round_trip(store: EventStore, event: BaseEvent) -> None:
    """An accepted event is stored, reads back byte-exact, and the chain still verifies."""
    before = store.head()
    [seq] = store.append(event)
    assert seq == before.sequence_number + 1
    got = store.get(event.event_id)
    assert got is not None
    assert canonical_bytes(got) == canonical_bytes(event)
    assert verify_log(store).ok


def set_path(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = deepcopy(doc)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


# --- strategies --------------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
bad_numbers = st.sampled_from(
    [math.nan, math.inf, -math.inf, "NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e999999"]
)
forbidden_text = st.tuples(
    st.text(max_size=10), st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00x"]), st.text()
).map("".join)
# Unusual but legal: right-to-left text, bidi overrides, emoji with joiners and skin tones,
# combining marks, a BOM, non-characters inside the BMP, line and paragraph separators.
odd_but_legal_text = st.one_of(
    st.sampled_from(
        [
            "שלום עולם",
            "مرحبا\u200e",
            "\u202eevil\u202c",
            "👩\u200d👩\u200d👧\u200d👦🏽",
            "e\u0301\u0301\u0301",
            "\ufeffbom",
            "\ufffe\uffff",
            "line\u2028para\u2029",
            "tab\tand\nnewline",
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    ),
)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


# --- tests -------------------------------------------------------------------------------------


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=7),
    field=st.sampled_from([*REQUIRED_TOP_LEVEL, "causation_id", "sequence_number"]),
    value=junk,
)
def test_wrong_types_are_refused_or_stored_intact(
    store: EventStore, index: int, field: str, value: Any
) -> None:
    doc = set_path(documents()[index], (field,), value)
    before = store.head()
    try:
        event = BaseEvent.parse(doc)
    except EventValidationError as exc:
        assert_clear(exc, field)
        assert_log_intact(store, before)
        return
    # The odd value was acceptable to validation (e.g. a null causation_id): the store either
    # takes it intact or refuses it clearly (its cause is not stored, say).
    try:
        stored_round_trip(store, event)
    except ClaireError as exc:
        assert_clear(exc)
        assert_log_intact(store, before)


@SETTINGS
@given(index=st.integers(min_value=0, max_value=7), field=st.sampled_from(REQUIRED_TOP_LEVEL))
def test_missing_fields_are_named(store: EventStore, index: int, field: str) -> None:
    doc = documents()[index]
    del doc[field]
    rejected(store, lambda: store.append(BaseEvent.parse(doc)), field)


@SETTINGS
@given(where=st.sampled_from(sorted(DECIMAL_FIELDS)), value=bad_numbers)
def test_nan_and_infinity_are_refused(store: EventStore, where: str, value: Any) -> None:
    index, field = DECIMAL_FIELDS[where]
    doc = set_path(documents()[index], ("payload", field), value)
    rejected(store, lambda: store.append(BaseEvent.parse(doc)), f"payload.{field}")


@SETTINGS
@given(value=st.sampled_from([math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("-Inf")]))
def test_nan_inside_free_form_data_is_refused(store: EventStore, value: Any) -> None:
    # (The *text* "NaN" is legal free-form data; only numbers that are not finite are refused.)
    f = factory("bad-input")
    rejected(
        store,
        lambda: store.append(
            f.create_alert(
                level="INFO",
                code="X",
                message="m",
                context={"deep": {"value": value}},
                correlation_id=uuid.uuid4(),
            )
        ),
        "payload.context",
    )


@SETTINGS
@given(where=st.sampled_from(sorted(TEXT_FIELDS)), text=forbidden_text)
def test_nul_and_lone_surrogates_are_refused(store: EventStore, where: str, text: str) -> None:
    index, path = TEXT_FIELDS[where]
    doc = set_path(documents()[index], path, text)
    rejected(store, lambda: store.append(BaseEvent.parse(doc)), ".".join(path[:1]))


@SETTINGS
@given(where=st.sampled_from(sorted(TEXT_FIELDS)), text=odd_but_legal_text)
def test_odd_but_legal_unicode_is_stored_byte_exact(
    store: EventStore, where: str, text: str
) -> None:
    index, path = TEXT_FIELDS[where]
    doc = set_path(documents()[index], path, text)
    doc["event_id"] = str(uuid.uuid4())
    doc["causation_id"] = None
    stored_round_trip(store, BaseEvent.parse(doc))


@SETTINGS
@given(text=forbidden_text)
def test_forbidden_text_in_free_form_keys_is_refused(store: EventStore, text: str) -> None:
    f = factory("bad-input")
    rejected(
        store,
        lambda: f.create_alert(
            level="INFO", code="X", message="m", context={text: 1}, correlation_id=uuid.uuid4()
        ),
        "payload.context",
    )


@SETTINGS
@given(depth=st.integers(min_value=0, max_value=400))
def test_deep_nesting_has_a_documented_limit(store: EventStore, depth: int) -> None:
    doc = set_path(documents()[5], ("payload", "context"), nested(depth))
    doc["event_id"] = str(uuid.uuid4())
    if depth + 1 > MAX_NESTING_DEPTH:  # the leaf sits one level below the innermost "n"
        error = rejected(store, lambda: BaseEvent.parse(doc), "payload.context")
        assert "nested deeper" in str(error)
    else:
        stored_round_trip(store, BaseEvent.parse(doc))


def test_json_nested_beyond_the_parser_limit_is_a_clear_error(store: EventStore) -> None:
    text = '{"a":' * 5000 + "1" + "}" * 5000
    error = rejected(store, lambda: parse_event_json(text), "event")
    assert "not valid JSON" in str(error)


@pytest.mark.parametrize("size", [MAX_EVENT_BYTES - 2000, MAX_EVENT_BYTES + 1, 8 * MAX_EVENT_BYTES])
def test_huge_payloads_are_refused_above_one_mib(store: EventStore, size: int) -> None:
    f = factory("bad-input")
    base = f.create_alert(level="INFO", code="BIG", message="", correlation_id=uuid.uuid4())
    overhead = len(canonical_bytes(base))
    event = f.create_alert(
        level="INFO", code="BIG", message="x" * (size - overhead), correlation_id=uuid.uuid4()
    )
    if len(canonical_bytes(event)) <= MAX_EVENT_BYTES:
        stored_round_trip(store, event)
        return
    error = rejected(store, lambda: store.append([*trade(f), event]), "events[5]")
    assert "1 MiB" in str(error)


@SETTINGS
@given(value=st.one_of(st.integers(min_value=2**64), st.integers(max_value=-(2**63) - 1)))
def test_integers_beyond_64_bits_are_refused(store: EventStore, value: int) -> None:
    f = factory("bad-input")
    rejected(
        store,
        lambda: store.append(
            f.create_alert(
                level="INFO",
                code="X",
                message="m",
                context={"n": value},
                correlation_id=uuid.uuid4(),
            )
        ),
        "payload.context",
    )


def test_integer_beyond_64_bits_in_a_typed_field_is_refused(store: EventStore) -> None:
    doc = documents()[2]
    doc["payload"]["risk_state"]["open_positions"] = 2**70
    event = BaseEvent.parse(doc)  # pydantic accepts a big int; the store door must not
    rejected(store, lambda: store.append(event), "events[0]")


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=7),
    field=st.sampled_from(["timestamp_logical", "payload", "metadata", "correlation_id"]),
)
def test_duplicate_id_with_different_content_is_a_conflict(
    store: EventStore, index: int, field: str
) -> None:
    original = next(store.read(from_sequence=index + 1, to_sequence=index + 1))
    doc = canonical_document(original)
    if field == "timestamp_logical":
        doc[field] += 1
    elif field == "payload":
        doc = canonical_document(sample_events()[index])
        doc["event_id"], doc["causation_id"] = str(original.event_id), None
    elif field == "metadata":
        doc["metadata"] = {**doc["metadata"], "environment": "production"}
    else:
        doc["correlation_id"] = str(uuid.uuid4())
    forged = BaseEvent.parse(doc)
    error = rejected(store, lambda: store.append(forged), str(original.event_id))
    assert isinstance(error, EventConflictError)
    assert "different content" in str(error)
    # The same content again is not a conflict: it is the stored event, at its sequence.
    before = store.head()
    assert store.append(original) == [index + 1]
    assert_log_intact(store, before)


def test_self_causation_is_refused_at_every_door(store: EventStore) -> None:
    f = factory("bad-input")
    [md, *_] = trade(f)
    doc = canonical_document(md)
    doc["causation_id"] = doc["event_id"]
    rejected(store, lambda: BaseEvent.parse(doc), "causation_id")
    forged = md.model_copy(update={"causation_id": md.event_id})  # bypasses validation
    error = rejected(store, lambda: store.append(forged), "causation_id")
    assert isinstance(error, CausationError)


def test_causation_cycles_and_unknown_causes_are_refused(store: EventStore) -> None:
    f = factory("bad-input")
    a, b, *_ = trade(f)
    # a <- b and b <- a: whichever comes first names a cause that is not stored yet.
    a_caused_by_b = a.model_copy(update={"causation_id": b.event_id})
    error = rejected(store, lambda: store.append([a_caused_by_b, b]), "causation_id")
    assert isinstance(error, CausationError)
    assert "later event of this batch" in str(error)
    orphan = a.model_copy(update={"causation_id": uuid.uuid4()})
    error = rejected(store, lambda: store.append(orphan), "causation_id")
    assert isinstance(error, CausationError)
    assert "no stored event" in str(error)


def test_a_bad_event_inside_a_batch_stores_nothing_of_the_batch(store: EventStore) -> None:
    f = factory("bad-input")
    good = trade(f)
    bad = good[2].model_copy(update={"causation_id": uuid.uuid4()})
    rejected(store, lambda: store.append([*good[:2], bad, *good[3:]]), "events[2]")
    for event in good:
        assert store.get(event.event_id) is None


@SETTINGS
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes_never_escape_as_anything_but_a_validation_error(
    store: EventStore, data: bytes
) -> None:
    before = store.head()
    with pytest.raises(EventValidationError) as caught:
        parse_event_json(data)
    assert_clear(caught.value)
    assert_log_intact(store, before)


@SETTINGS
@given(index=st.integers(min_value=0, max_value=7), cut=st.integers(min_value=1, max_value=400))
def test_truncated_json_is_refused(store: EventStore, index: int, cut: int) -> None:
    data = canonical_bytes(sample_events()[index])
    rejected(store, lambda: parse_event_json(data[: max(0, len(data) - cut)]), "event")


@SETTINGS
@given(kind=st.text(max_size=30))
def test_unknown_event_types_are_named_by_the_factory(store: EventStore, kind: str) -> None:
    f = factory("bad-input")
    if kind in {t.value for t in EventType}:
        return
    rejected(
        store,
        lambda: f.create(kind, {}, correlation_id=uuid.uuid4()),
        "event_type",
    )
