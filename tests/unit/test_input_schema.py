"""The OpenAPI input schema of an event says exactly what validation accepts: every event the
factory makes fits it, and for decimals, integers and timestamps (where JSON Schema and Python
disagree most easily) schema-valid and accepted are the same thing, value by value."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from claire.events.codec import canonical_document
from claire.events.input_schema import EVENT_INPUT, event_input_schemas, model_input_schema
from claire.events.payloads import Fraction, NonNegative, Positive, RiskState
from claire.events.values import Dec, JsonObject, UtcDatetime
from rigs.factories import factory, trade

TEMPLATE = "#/$defs/{model}"
SCHEMAS = event_input_schemas(TEMPLATE)


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": TEMPLATE.format(model=name), "$defs": SCHEMAS}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


EVENT = validator(EVENT_INPUT)


def test_the_union_is_a_valid_schema_chosen_by_event_type() -> None:
    jsonschema.Draft202012Validator.check_schema({"$defs": SCHEMAS})
    assert SCHEMAS[EVENT_INPUT]["discriminator"]["propertyName"] == "event_type"
    alert = SCHEMAS["AlertEvent"]["properties"]
    assert alert["event_type"] == {"const": "alert"}
    assert set(SCHEMAS["AlertPayload"]["required"]) == {"level", "code", "message"}


def test_every_event_the_factory_makes_fits_and_an_empty_alert_payload_does_not() -> None:
    f = factory()
    events = trade(f)
    events.append(
        f.create_state_snapshot(
            at_sequence=3,
            state={"deep": [{"x": 1.5, "n": None, "big": 2**63}]},
            state_hash="a" * 64,
            correlation_id=uuid.uuid4(),
        )
    )
    for event in events:
        EVENT.validate(canonical_document(event))
    empty_alert = {**canonical_document(events[0]), "event_type": "alert", "payload": {}}
    assert not EVENT.is_valid(empty_alert)  # the server refuses it too (422)


class Fields(BaseModel):
    any: Dec | None = None
    positive: Positive | None = None
    non_negative: NonNegative | None = None
    fraction: Fraction | None = None
    when: UtcDatetime | None = None
    free: JsonObject | None = None


def _field_validators() -> dict[str, jsonschema.Draft202012Validator]:
    # The same fixes as the event schemas get, applied to a model of one field per type.
    schema = model_input_schema(Fields, TEMPLATE, payload=True)
    defs = {**SCHEMAS, **schema.pop("$defs", {})}
    return {
        name: jsonschema.Draft202012Validator(
            {**field, "$defs": defs}, format_checker=jsonschema.FormatChecker()
        )
        for name, field in schema["properties"].items()
    }


VALIDATORS = _field_validators()


def _agree(name: str, value: Any) -> None:
    try:
        Fields.model_validate({name: value})
        accepted = True
    except ValidationError:
        accepted = False
    assert VALIDATORS[name].is_valid(value) == accepted, (name, value, accepted)


DECIMAL_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{0,3})?", fullmatch=True),
    st.text(alphabet="0123456789.-+eE _", max_size=8),
    st.sampled_from(["1" * 41, "1" * 42, "0." + "0" * 39 + "1", "0." + "0" * 40 + "1", "-0"]),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**42), max_value=10**42),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-40, 9.99e-41, 1e41, 9.999999999999999e40, -0.0, 0.0, 1.0, 1.5]),
)


@settings(max_examples=150, deadline=None)
@given(value=st.one_of(DECIMAL_TEXT, NUMBERS, st.booleans(), st.none()))
@pytest.mark.parametrize("name", ["any", "positive", "non_negative", "fraction"])
def test_a_decimal_is_schema_valid_exactly_when_it_is_accepted(name: str, value: Any) -> None:
    _agree(name, value)


TIMESTAMP_TEXT = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(
        [
            "0001-01-01T00:00:01+01:02",
            "9999-12-31T23:59:59-01:00",
            "2025-02-14T13:05:00",
            "2025-02-14 13:05:00Z",
            "2025-02-30T00:00:00Z",
            "2025-02-14T13:05:60Z",
            "2025-02-14t13:05:00z",
            "2025-02-14T13:05:00.1234567Z",
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(value=TIMESTAMP_TEXT)
def test_a_timestamp_is_schema_valid_exactly_when_it_is_accepted(value: str) -> None:
    _agree("when", value)


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.integers(min_value=-(2**65), max_value=2**65),
    NUMBERS,
)


@settings(max_examples=150, deadline=None)
@given(
    value=st.dictionaries(
        st.text(max_size=3),
        st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
        max_size=3,
    )
)
def test_a_free_form_object_is_schema_valid_exactly_when_it_is_accepted(value: Any) -> None:
    _agree("free", value)


def test_integers_are_json_integers() -> None:
    payload = canonical_document(trade()[2])["payload"]  # a risk decision
    for count, ok in ((3, True), (3.0, True), ("3", False), (True, False), (3.5, False)):
        state = {**payload["risk_state"], "open_positions": count}
        valid = validator("RiskState").is_valid(state)
        assert valid is ok, count
        try:
            RiskState.model_validate(state)
            assert ok, count
        except ValidationError:
            assert not ok, count
