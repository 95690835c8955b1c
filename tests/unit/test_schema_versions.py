"""Schema versions: the registry (chains of upcasters, refusals) and `claire schema check`
against committed schemas, with registries of the tests' own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.schema import payload_version_schema, schema_files, version_file
from claire.audit.schema_check import COMMITTED, check_schemas
from claire.errors import EventValidationError
from claire.events import BaseEvent, canonical_bytes, decode_event
from claire.events.codec import canonical_document, decode_rows, encode_document
from claire.events.payloads import PAYLOAD_MODELS, AlertPayload, EventType, Payload, SignalPayload
from claire.events.versioning import SchemaVersionError, SchemaVersions
from claire.events.versions import (
    CURRENT_VERSIONS,
    HISTORY,
    UNVERSIONED_VERSIONS,
    VERSIONS,
    confidence_as_fraction,
    risk_checks_by_name,
)
from claire.replay.diff import event_diff
from rigs.factories import trade

ALERT = EventType.ALERT


class AlertV1(Payload):
    text: str


class AlertV2(Payload):
    message: str
    level: str


def claire_with(alert: int, history: dict[tuple[EventType, int], type[Payload]]) -> SchemaVersions:
    """Claire's own registry, but with alert at version `alert` and these old alert models."""
    versions = SchemaVersions(
        {**CURRENT_VERSIONS, ALERT: alert},
        PAYLOAD_MODELS,
        {**HISTORY, **history},
        UNVERSIONED_VERSIONS,
    )
    versions.upcaster(EventType.SIGNAL_GENERATED, 1)(confidence_as_fraction)
    versions.upcaster(EventType.RISK_DECISION, 1)(risk_checks_by_name)
    return versions


def three_versions() -> SchemaVersions:
    """alert v1 {text} -> v2 {message, level} -> v3 (today's AlertPayload)."""
    versions = claire_with(3, {(ALERT, 1): AlertV1, (ALERT, 2): AlertV2})

    @versions.upcaster(ALERT, 1)
    def text_becomes_message(payload: dict[str, Any]) -> dict[str, Any]:
        return {"message": payload["text"], "level": "info"}

    @versions.upcaster(ALERT, 2)
    def level_upper_and_code(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "level": payload["level"].upper(), "code": "LEGACY", "context": {}}

    return versions


def test_claire_declares_a_readable_chain_for_every_type() -> None:
    assert VERSIONS.problems() == []
    assert set(VERSIONS.current) == set(EventType)


def test_upcasters_run_in_order_and_unversioned_is_version_1() -> None:
    versions = three_versions()
    current = {"message": "lag", "level": "INFO", "code": "LEGACY", "context": {}}
    assert versions.upcast(ALERT, None, {"text": "lag"}) == current
    assert versions.upcast(ALERT, 1, {"text": "lag"}) == current
    assert versions.upcast(ALERT, 2, {"message": "lag", "level": "info"}) == current
    assert versions.upcast(ALERT, 3, current) is current  # the current version: untouched
    AlertPayload.model_validate(current)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (4, "alert event of schema version 4 is newer than this code knows"),
        (0, "alert event with schema version 0: not a version"),
        ("2", "alert event with schema version '2': not a version"),
    ],
)
def test_versions_it_cannot_read_are_refused_by_name(version: Any, message: str) -> None:
    with pytest.raises(SchemaVersionError, match=message):
        three_versions().upcast(ALERT, version, {})


def test_a_missing_upcaster_is_named() -> None:
    versions = claire_with(2, {(ALERT, 1): AlertV1})
    assert versions.problems() == ["alert: no upcaster from version 1 to 2"]
    with pytest.raises(SchemaVersionError, match="no upcaster from version 1 to 2"):
        versions.upcast(ALERT, 1, {"text": "x"})


def test_registration_refuses_a_second_upcaster_or_one_past_the_current_version() -> None:
    versions = three_versions()
    with pytest.raises(ValueError, match="an upcaster from version 1 exists"):
        versions.upcaster(ALERT, 1)(lambda p: p)
    with pytest.raises(ValueError, match="the current version is 3"):
        versions.upcaster(ALERT, 3)(lambda p: p)


def test_every_version_has_a_payload_schema() -> None:
    schema = payload_version_schema(ALERT, 1, three_versions())
    assert schema["x-schema-version"] == 1 and schema["required"] == ["text"]
    assert "versions/alert/v3.schema.json" in schema_files(three_versions())


# --- claire schema check -------------------------------------------------------------------------
def test_the_committed_schemas_describe_the_models() -> None:
    # The check CI runs: a payload model changed without a new version fails here.
    report = check_schemas()
    assert report.ok, [p.to_document() for p in report.problems]
    assert report.directory == COMMITTED


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(COMMITTED, copy)
    return copy


def _edit(path: Path, change: Any) -> None:
    document = orjson.loads(path.read_bytes())
    change(document)
    path.write_bytes(orjson.dumps(document))


def test_a_model_changed_without_a_new_version_fails(committed: Path) -> None:
    # As if the committed v1 had no `context` (so today's model added it without a version).
    _edit(committed / version_file(ALERT, 1), lambda d: d["properties"].pop("context"))
    problems = check_schemas(committed).problems
    assert [p.file for p in problems] == ["versions/alert/v1.schema.json"]
    assert "alert changed without a new schema version" in problems[0].reason
    assert "at /properties/context" in problems[0].reason
    assert "register an upcaster (alert, from_version=1)" in problems[0].reason


def test_changed_descriptions_only_ask_for_a_new_export(committed: Path) -> None:
    _edit(committed / version_file(ALERT, 1), lambda d: d.update(title="renamed"))
    (problem,) = check_schemas(committed).problems
    assert problem.reason.startswith("out of date (run `claire schema export -o")


def test_a_new_version_must_be_committed_with_its_upcaster(committed: Path) -> None:
    versions = claire_with(2, {(ALERT, 1): AlertV1})
    reasons = {p.file: p.reason for p in check_schemas(committed, versions).problems}
    assert reasons["claire/events/versions.py"] == "alert: no upcaster from version 1 to 2"
    assert "alert version 2 was never committed" in reasons["versions/alert/v2.schema.json"]
    # The committed v1 is today's model, not AlertV1: history must not change either.
    assert (
        "alert version 1 is history and must never change"
        in (reasons["versions/alert/v1.schema.json"])
    )


def test_a_committed_version_the_code_does_not_have_is_named(committed: Path) -> None:
    extra = committed / "versions" / "alert" / "v2.schema.json"
    extra.write_bytes(b"{}")
    (problem,) = check_schemas(committed).problems
    assert problem.file == "versions/alert/v2.schema.json"
    assert "the code has no such schema" in problem.reason


# --- versions written and read ------------------------------------------------------------------
def test_every_event_records_its_current_version_when_written() -> None:
    events = trade()
    assert [e.metadata.schema_version for e in events] == [1, 2, 2, 1, 1]
    assert all(b'"schema_version":' in canonical_bytes(e) for e in events)
    assert all(decode_event(canonical_bytes(e)) == e for e in events)


def test_the_door_records_the_current_version_and_refuses_another() -> None:
    document = canonical_document(trade()[1])
    del document["metadata"]["schema_version"]
    assert BaseEvent.parse(document).metadata.schema_version == 2  # recorded when left out
    document["metadata"]["schema_version"] = 2
    assert BaseEvent.parse(document).metadata.schema_version == 2
    document["metadata"]["schema_version"] = 1
    with pytest.raises(EventValidationError) as refused:
        BaseEvent.parse(document)
    assert refused.value.problems == [
        (
            "metadata.schema_version",
            "signal_generated events are written in their current schema version 2, not 1 "
            "(leave it out to have it recorded)",
        )
    ]


def _stored(event: BaseEvent, version: int | None, payload: dict[str, Any]) -> bytes:
    document = canonical_document(event)
    document["metadata"] = {**document["metadata"], "schema_version": version}
    if version is None:
        del document["metadata"]["schema_version"]
    return encode_document({**document, "payload": payload})


def test_a_version_1_signal_is_read_as_version_2() -> None:
    signal = trade()[1]
    v1 = {k: v for k, v in signal.payload.items() if k != "strategy_params"}
    data = _stored(signal, 1, {**v1, "confidence": "85"})
    read = decode_event(data, 4)
    assert read.payload == {**signal.payload, "strategy_params": {}}
    assert read.payload["confidence"] == "0.85"
    assert (read.metadata.schema_version, read.stored_schema_version) == (2, 1)
    assert read.sequence_number == 4 and read.with_sequence(5).stored_schema_version == 1
    assert read.data == SignalPayload.model_validate(read.payload)  # typed after the upcast
    assert next(decode_rows([(4, data)])) == read


def test_a_version_1_risk_decision_lists_its_checks() -> None:
    decision = trade()[2]
    checks = [{"name": n, **c} for n, c in decision.payload["risk_checks"].items()]
    read = decode_event(_stored(decision, 1, {**decision.payload, "risk_checks": checks}))
    assert read.payload == decision.payload and read.data == decision.data
    duplicated = {**decision.payload, "risk_checks": checks + checks}
    with pytest.raises(SchemaVersionError, match="the check 'daily_drawdown' is listed twice"):
        decode_event(_stored(decision, 1, duplicated), 9)


def test_events_recording_no_version_are_todays_format() -> None:
    # Stored before versions were recorded: signals and decisions were what version 2 is now.
    for event in trade():
        read = decode_event(_stored(event, None, event.payload))
        assert read.payload == event.payload and read.data == event.data
        assert read.stored_schema_version is None
    assert VERSIONS.unversioned(EventType.SIGNAL_GENERATED) == 2
    assert VERSIONS.unversioned(EventType.MARKET_DATA) == 1


def test_a_newer_version_is_refused_on_read_naming_type_and_version() -> None:
    decision = trade()[2]
    data = _stored(decision, 3, decision.payload)
    message = (
        rf"the stored event {decision.event_id} at sequence 12: risk_decision event of "
        r"schema version 3 is newer than this code knows \(it reads risk_decision up to "
        r"version 2\): upgrade Claire to read it"
    )
    with pytest.raises(SchemaVersionError, match=message):
        decode_event(data, 12)
    with pytest.raises(SchemaVersionError, match=message):
        list(decode_rows([(12, data)]))


def test_an_upcast_the_current_model_refuses_is_named() -> None:
    signal = trade()[1]
    data = _stored(signal, 1, {**signal.payload, "confidence": "850"})  # 8.5 is no fraction
    with pytest.raises(SchemaVersionError, match=r"upcast to version 2, is not a valid payload"):
        decode_event(data)


def test_decisions_compare_without_the_version_or_fields_their_version_lacked() -> None:
    signal = trade()[1]
    v1 = {k: v for k, v in signal.payload.items() if k != "strategy_params"}
    recorded = decode_event(_stored(signal, 1, {**v1, "confidence": "85"}))
    assert recorded.payload["strategy_params"] != signal.payload["strategy_params"]
    assert event_diff(recorded, signal, replayed_causation=str(signal.causation_id)) == []
    unversioned = decode_event(_stored(signal, None, signal.payload))
    assert event_diff(unversioned, signal, replayed_causation=str(signal.causation_id)) == []
    changed = signal.model_copy(update={"payload": {**signal.payload, "confidence": "0.86"}})
    (difference,) = event_diff(recorded, changed, replayed_causation=str(signal.causation_id))
    assert (difference.field, difference.recorded, difference.replayed) == (
        "payload.confidence",
        "0.85",
        "0.86",
    )


# Payload fields the stores read straight from the stored JSON, where no upcaster runs: the
# symbol index (claire.store.port.event_symbol), bars and their buckets, a chart decision's
# cause price, and a snapshot's at_sequence (the SQL in claire/store/sqlite.py and postgres.py).
# Every version of these types must store them under the same name: a version that renames
# one must change that SQL too (and this list).
READ_IN_SQL = {
    EventType.MARKET_DATA: {"symbol", "price", "open", "high", "low", "volume"},
    EventType.SIGNAL_GENERATED: {"symbol", "price"},
    EventType.RISK_DECISION: {"symbol"},
    EventType.ORDER_REQUEST: {"symbol"},
    EventType.ORDER_RESULT: {"symbol"},
    EventType.POSITION_UPDATE: {"symbol"},
    EventType.ALERT: {"context"},
    EventType.STATE_SNAPSHOT: {"at_sequence"},
}


@pytest.mark.parametrize("kind", list(EventType))
def test_fields_read_in_sql_are_in_every_version(kind: EventType) -> None:
    for version in VERSIONS.versions(kind):
        fields = VERSIONS.model(kind, version).model_fields
        assert READ_IN_SQL[kind] <= set(fields), (kind.value, version)
