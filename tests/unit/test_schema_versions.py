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
from claire.events.payloads import PAYLOAD_MODELS, AlertPayload, EventType, Payload
from claire.events.versioning import SchemaVersionError, SchemaVersions
from claire.events.versions import CURRENT_VERSIONS, VERSIONS

ALERT = EventType.ALERT


class AlertV1(Payload):
    text: str


class AlertV2(Payload):
    message: str
    level: str


def three_versions() -> SchemaVersions:
    """alert v1 {text} -> v2 {message, level} -> v3 (today's AlertPayload)."""
    versions = SchemaVersions(
        {**CURRENT_VERSIONS, ALERT: 3},
        PAYLOAD_MODELS,
        {(ALERT, 1): AlertV1, (ALERT, 2): AlertV2},
    )

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
    versions = SchemaVersions({**CURRENT_VERSIONS, ALERT: 2}, PAYLOAD_MODELS, {(ALERT, 1): AlertV1})
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
    versions = SchemaVersions({**CURRENT_VERSIONS, ALERT: 2}, PAYLOAD_MODELS, {(ALERT, 1): AlertV1})
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
