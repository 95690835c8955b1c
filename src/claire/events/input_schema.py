"""The JSON Schema of an event as the door takes it (POST /events, the stream), for OpenAPI.

One schema per event type: the envelope with `event_type` fixed and the payload of that type,
chosen by `event_type` (a discriminated union), so a client generated from `/openapi.json`
builds valid events. The schemas say exactly what validation accepts, no more and no less:

- Decimals: a JSON number, or text in positional notation (`values.DECIMAL_TEXT`), within the
  exponent range `values.to_decimal` allows, with the field's bounds (> 0, >= 0, 0..1).
- Text never holds NUL; timestamps are RFC 3339 with seconds and a zone (`values.TIMESTAMP_TEXT`).
- Integers and booleans are JSON integers and booleans (validation is strict about them), the
  integers of a payload at most 64 bits (the canonical encoding's limit).
- Free-form objects (`strategy_params`, `context`, `state`) hold JSON values whose numbers fit
  the same limits (`values.to_json_value`); their nesting depth (at most 32) is the one rule
  left to the description.

Rules that span fields or need the store (a cause must be stored, an event cannot cause
itself, a snapshot describes an earlier sequence) cannot be said in JSON Schema; the API
documents them and answers 422.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from claire.events.payloads import PAYLOAD_MODELS, EventType
from claire.events.validation import BaseEvent  # the pydantic model validation uses
from claire.events.values import (
    DECIMAL_LARGE,
    DECIMAL_SMALL,
    DECIMAL_ZERO,
    MAX_DECIMAL_EXPONENT,
    MAX_NESTING_DEPTH,
    TIMESTAMP_TEXT,
)
from claire.events.versions import CURRENT_VERSIONS

NO_NUL = "^[^\\x00]*$"
MAX_PAYLOAD_INTEGER = 2**64 - 1
INT64_MIN = -(2**63)
JSON_VALUE, JSON_OBJECT, EVENT_INPUT = "JsonValue", "JsonObject", "EventInput"

_ABOVE = 10.0 ** (MAX_DECIMAL_EXPONENT + 1)  # |x| below this has a digit within 40 places left
_TINY = 10.0**-MAX_DECIMAL_EXPONENT  # 0 < |x| below this has none within 40 places right
_NOT_TINY = {"not": {"exclusiveMinimum": -_TINY, "exclusiveMaximum": _TINY, "not": {"const": 0}}}


def _text(*alternatives: str) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^({'|'.join(alternatives)})$"}


# Each decimal field's bounds, as a JSON number and as decimal text (-0 is zero, so allowed
# wherever zero is).
DECIMAL_INPUTS: dict[tuple[tuple[str, int], ...], tuple[dict[str, Any], dict[str, Any]]] = {
    (): (
        {"type": "number", "exclusiveMinimum": -_ABOVE, "exclusiveMaximum": _ABOVE, **_NOT_TINY},
        _text(f"-?{DECIMAL_LARGE}", f"-?{DECIMAL_SMALL}", f"-?{DECIMAL_ZERO}"),
    ),
    (("gt", 0),): (
        {"type": "number", "minimum": _TINY, "exclusiveMaximum": _ABOVE},
        _text(DECIMAL_LARGE, DECIMAL_SMALL),
    ),
    (("ge", 0),): (
        {"type": "number", "minimum": 0, "exclusiveMaximum": _ABOVE, **_NOT_TINY},
        _text(DECIMAL_LARGE, DECIMAL_SMALL, f"-?{DECIMAL_ZERO}"),
    ),
    (("ge", 0), ("le", 1)): (
        {"type": "number", "minimum": 0, "maximum": 1, **_NOT_TINY},
        _text(DECIMAL_SMALL, f"-?{DECIMAL_ZERO}", r"1(\.0+)?"),
    ),
}
_BOUNDS = ("gt", "ge", "lt", "le")
_NUMBER_OR_TEXT = [{"type": "number"}, {"type": "string"}]


def _ref(name: str, template: str) -> dict[str, str]:
    return {"$ref": template.format(model=name)}


def json_value_schemas(template: str) -> dict[str, Any]:
    """JsonValue and JsonObject: what a free-form object may hold."""
    return {
        JSON_VALUE: {
            "description": "Any JSON value whose numbers and text an event can hold.",
            "anyOf": [
                {"type": "null"},
                {"type": "boolean"},
                {"type": "string", "pattern": NO_NUL},
                {"type": "integer", "minimum": INT64_MIN, "maximum": MAX_PAYLOAD_INTEGER},
                {  # a number with a fraction; integral ones are integers in JSON Schema
                    "type": "number",
                    "exclusiveMinimum": -_ABOVE,
                    "exclusiveMaximum": _ABOVE,
                    "not": {"type": "integer"},
                    "allOf": [_NOT_TINY],
                },
                {"type": "array", "items": _ref(JSON_VALUE, template)},
                _ref(JSON_OBJECT, template),
            ],
        },
        JSON_OBJECT: {
            "description": (
                "A free-form object of JSON values, nested at most "
                f"{MAX_NESTING_DEPTH} levels; numbers are stored as decimal text."
            ),
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": _ref(JSON_VALUE, template),
        },
    }


def _fix(node: Any, template: str, in_payload: bool) -> Any:
    """Make a pydantic validation-mode schema say exactly what validation accepts."""
    if isinstance(node, list):
        return [_fix(item, template, in_payload) for item in node]
    if not isinstance(node, dict):
        return node
    alternatives = node.get("anyOf")
    if isinstance(alternatives, list) and all(a in alternatives for a in _NUMBER_OR_TEXT):
        # A Decimal (pydantic: number or text, bounds beside): its exact grammar.
        node = dict(node)
        bounds = tuple((key, node.pop(key)) for key in _BOUNDS if key in node)
        if bounds not in DECIMAL_INPUTS:
            raise ValueError(f"no input grammar for a decimal bounded by {bounds}")
        rest = [_fix(a, template, in_payload) for a in alternatives if a not in _NUMBER_OR_TEXT]
        node["anyOf"] = [*DECIMAL_INPUTS[bounds], *rest]
        return node
    node = {key: _fix(value, template, in_payload) for key, value in node.items()}
    kind = node.get("type")
    if kind == "string":
        if node.get("format") == "date-time":
            node["pattern"] = f"^{TIMESTAMP_TEXT.pattern}$"
        elif not {"pattern", "enum", "const", "format"} & set(node):
            node["pattern"] = NO_NUL
    elif kind == "object" and "properties" not in node:
        if node.get("additionalProperties") is True:  # a free-form object
            return {key: node[key] for key in ("title", "description") if key in node} | _ref(
                JSON_OBJECT, template
            )
        node.setdefault("propertyNames", {"pattern": NO_NUL})
    elif kind == "integer" and in_payload:
        node.setdefault("maximum", MAX_PAYLOAD_INTEGER)
    return node


def model_input_schema(model: type[BaseModel], template: str, *, payload: bool) -> Any:
    """A model's validation-mode schema, made to say exactly what validation accepts."""
    return _fix(model.model_json_schema(ref_template=template), template, payload)


def event_input_name(kind: EventType) -> str:
    return "".join(part.title() for part in kind.value.split("_")) + "Event"


def _schema_version_input(kind: EventType) -> dict[str, Any]:
    """An event is written in its type's current schema version: that number, or nothing."""
    current = CURRENT_VERSIONS[kind]
    return {
        "enum": [current, None],
        "description": f"{kind.value} events are written in schema version {current}; "
        "left out or null, it is recorded.",
    }


def event_input_schemas(template: str = "#/components/schemas/{model}") -> dict[str, Any]:
    """Named schemas: EventInput (the union by event_type), one event schema per type, their
    payloads and what those use. `template` makes the references (OpenAPI's by default)."""
    schemas: dict[str, Any] = json_value_schemas(template)
    envelope = model_input_schema(BaseEvent, template, payload=False)
    schemas.update(envelope.pop("$defs", {}))
    for kind, model in PAYLOAD_MODELS.items():
        payload = model_input_schema(model, template, payload=True)
        schemas.update(payload.pop("$defs", {}))
        schemas[model.__name__] = payload
        properties = dict(envelope["properties"])
        properties["event_type"] = {"const": kind.value}
        properties["metadata"] = {
            "allOf": [
                properties["metadata"],
                {"properties": {"schema_version": _schema_version_input(kind)}},
            ]
        }
        properties["payload"] = _ref(model.__name__, template)
        schemas[event_input_name(kind)] = {
            **envelope,
            "title": f"{kind.value} event",
            "description": f"A {kind.value} event as it is sent to the store.",
            "properties": properties,
        }
    schemas[EVENT_INPUT] = {
        "title": "Event",
        "description": "One event: the fields of its payload depend on event_type.",
        "oneOf": [_ref(event_input_name(kind), template) for kind in EventType],
        "discriminator": {
            "propertyName": "event_type",
            "mapping": {
                kind.value: template.format(model=event_input_name(kind)) for kind in EventType
            },
        },
    }
    return schemas
