"""JSON Schema of every event type, generated from the pydantic models (the role of the seed's
`event_sourcing_schema.yaml`). It describes events in their stored JSON form: Decimals as
decimal text, timestamps as UTC ISO-8601 text, UUIDs as text.

Besides the current events, every schema version of every payload has a file of its own,
`versions/<event_type>/v<N>.schema.json`: the record `claire schema check` compares the models
with (see `claire.audit.schema_check` and docs/versions.md).
"""

from __future__ import annotations

from typing import Any

from claire.events.model import BaseEvent
from claire.events.payloads import PAYLOAD_MODELS, EventType
from claire.events.versioning import SchemaVersions
from claire.events.versions import VERSIONS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
UTC_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]00:00)$"
REF_TEMPLATE = "#/$defs/{model}"

# pydantic writes numeric bounds (gt, ge, ...) on the string form of a Decimal; JSON Schema has
# no such keywords for strings, so they move to x- annotations beside a decimal pattern.
_DECIMAL_BOUNDS = {
    "gt": "x-exclusiveMinimum",
    "ge": "x-minimum",
    "lt": "x-exclusiveMaximum",
    "le": "x-maximum",
}


def _fix_decimals(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {key: _fix_decimals(value) for key, value in node.items()}
        bounds = [key for key in _DECIMAL_BOUNDS if key in fixed]
        if fixed.get("type") == "string" and bounds:
            for key in bounds:
                fixed[_DECIMAL_BOUNDS[key]] = str(fixed.pop(key))
            fixed.setdefault("pattern", DECIMAL_PATTERN)
            fixed.setdefault("format", "decimal")
        return fixed
    if isinstance(node, list):
        return [_fix_decimals(item) for item in node]
    return node


def _payload_definitions() -> dict[str, Any]:
    """Every payload model and the models and enums they use, under their class names."""
    definitions: dict[str, Any] = {}
    for model in PAYLOAD_MODELS.values():
        schema = model.model_json_schema(mode="serialization", ref_template=REF_TEMPLATE)
        definitions.update(schema.pop("$defs", {}))
        definitions[model.__name__] = schema
    return definitions


def _envelope() -> tuple[dict[str, Any], dict[str, Any]]:
    """BaseEvent's properties and required fields, with its own definitions."""
    schema = BaseEvent.model_json_schema(mode="serialization", ref_template=REF_TEMPLATE)
    properties = schema["properties"]
    properties["timestamp_utc"] = {
        **properties["timestamp_utc"],
        "format": "date-time",
        "pattern": UTC_TIMESTAMP_PATTERN,
        "description": "Wall-clock time for people (UTC, microseconds); never used for order.",
    }
    properties["timestamp_logical"]["description"] = "The producer's logical clock (monotone)."
    properties["sequence_number"]["description"] = (
        "The store's gapless global order, assigned on append (absent before)."
    )
    return schema, schema.pop("$defs", {})


def _event_definition(kind: EventType, envelope: dict[str, Any]) -> dict[str, Any]:
    properties = dict(envelope["properties"])
    properties["event_type"] = {"const": kind.value}
    # The payload below is the current version's, so is the version the event records (an
    # event recording none has it when its type's unversioned version is the current one).
    version: dict[str, Any] = {
        "properties": {"schema_version": {"const": VERSIONS.current[kind]}},
    }
    if not VERSIONS.reads_as_is(kind, None):
        version["required"] = ["schema_version"]
    properties["metadata"] = {"allOf": [properties["metadata"], version]}
    properties["payload"] = {"$ref": REF_TEMPLATE.format(model=PAYLOAD_MODELS[kind].__name__)}
    return {
        "title": f"{kind.value} event",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(envelope["required"]),
    }


def _definition_name(kind: EventType) -> str:
    return f"{kind.value}_event"


def events_schema() -> dict[str, Any]:
    """One document: `oneOf` the event types, each the envelope with its typed payload."""
    envelope, envelope_defs = _envelope()
    definitions: dict[str, Any] = {**envelope_defs, **_payload_definitions()}
    for kind in EventType:
        definitions[_definition_name(kind)] = _event_definition(kind, envelope)
    document: dict[str, Any] = _fix_decimals(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "title": "Claire events",
            "description": (
                "Every Claire event in its stored JSON form, chosen by event_type. "
                "Generated from the pydantic models by `claire schema export`."
            ),
            "oneOf": [{"$ref": REF_TEMPLATE.format(model=_definition_name(k))} for k in EventType],
            "$defs": dict(sorted(definitions.items())),
        }
    )
    return document


def event_type_schema(kind: EventType) -> dict[str, Any]:
    """A standalone schema for one event type (the shared definitions copied in)."""
    combined = events_schema()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"Claire {kind.value} event",
        "$ref": REF_TEMPLATE.format(model=_definition_name(kind)),
        "$defs": combined["$defs"],
    }


def version_file(kind: EventType, version: int) -> str:
    return f"versions/{kind.value}/v{version}.schema.json"


def payload_version_schema(
    kind: EventType, version: int, versions: SchemaVersions = VERSIONS
) -> dict[str, Any]:
    """The JSON Schema of one schema version of a payload, in its stored JSON form."""
    schema = versions.model(kind, version).model_json_schema(
        mode="serialization", ref_template=REF_TEMPLATE
    )
    definitions = schema.pop("$defs", None)
    # The title names the version, not the model class: a model keeps its schema when it moves
    # to claire.events.history under another name.
    schema.pop("title", None)
    document: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"Claire {kind.value} payload, schema version {version}",
        "x-event-type": kind.value,
        "x-schema-version": version,
        **schema,
    }
    if definitions:
        document["$defs"] = dict(sorted(definitions.items()))
    fixed: dict[str, Any] = _fix_decimals(document)
    return fixed


def schema_files(versions: SchemaVersions = VERSIONS) -> dict[str, dict[str, Any]]:
    """File name -> document: the combined schema, one per event type, and one per schema
    version of each payload."""
    files = {"events.schema.json": events_schema()}
    for kind in EventType:
        files[f"{kind.value}.schema.json"] = event_type_schema(kind)
    for kind in EventType:
        for version in versions.versions(kind):
            files[version_file(kind, version)] = payload_version_schema(kind, version, versions)
    return files
