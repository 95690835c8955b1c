"""A log recorded by older payload versions (tests/fixtures/v1_log.jsonl, made by
tests/fixtures/make_v1_log.py) verifies, replays, explains and validates under current code,
through the real `claire` entry point, on SQLite and on PostgreSQL; the events read from it equal
the version 2 events it was made from, field by field.

`signal_generated` v1: confidence in percent, no strategy_params; `risk_decision` v1: the risk
checks as a list. Their stored bytes (and hashes) stay version 1; readers see version 2.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson
import pytest

from claire.audit.export import read_jsonl_export
from claire.events import BaseEvent, EventType
from claire.events.codec import event_from_document
from claire.store import open_store
from rigs.factories import trade
from tests.fixtures.make_v1_log import (
    LOG,
    SOURCES,
    VERSION_1,
    fixture_public_key,
    load_export,
    stored_as_is,
)


def claire(url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "claire", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def sources() -> dict[int, BaseEvent]:
    """The version 2 events the fixture's version 1 events were made from, by sequence."""
    found = {}
    for line in SOURCES.read_bytes().splitlines():
        document: dict[str, Any] = orjson.loads(line)
        sequence = document.pop("sequence_number")
        found[sequence] = event_from_document(document, sequence)
    return found


@pytest.fixture(params=["sqlite", "postgres"])
def old_log(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path / 'v1.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with open_store(url, create=True) as store:
        load_export(LOG, store)
    return url


def test_the_export_file_verifies_on_its_own() -> None:
    result = claire(None, "verify", "--export", str(LOG), "--public-key", fixture_public_key())
    assert result.returncode == 0, result.stderr
    assert "Hash chain OK" in result.stdout and "201 events" in result.stdout


def test_the_fixture_holds_version_1_bytes() -> None:
    records, _ = read_jsonl_export(LOG.read_bytes().splitlines())
    old = [e for e in stored_as_is(r.canonical for r in records) if e.event_type in VERSION_1]
    assert len(old) == 7 and {e.metadata.schema_version for e in old} == {1}
    assert all("strategy_params" not in e.payload for e in old if e.payload.get("confidence"))
    assert all(isinstance(e.payload["risk_checks"], list) for e in old if "approved" in e.payload)
    assert any(float(e.payload.get("confidence", 0)) > 1 for e in old)  # percent


def test_read_events_equal_the_version_2_events_field_by_field(old_log: str) -> None:
    made_from = sources()
    with open_store(old_log) as store:
        read = {e.sequence_number or 0: e for e in store.read()}
        raw = dict(enumerate(stored_as_is(r.canonical for r in store.iter_records()), start=1))
    assert len(read) == 201 and set(made_from) == {
        s for s, e in read.items() if e.event_type in VERSION_1
    }
    for sequence, event in read.items():
        if sequence not in made_from:  # a type that did not change: read as stored
            assert event == raw[sequence].with_sequence(sequence)
            continue
        source = made_from[sequence]
        assert event.stored_schema_version == 1
        for field in msgspec.structs.fields(BaseEvent):
            mine, theirs = getattr(event, field.name), getattr(source, field.name)
            if field.name == "payload" and event.event_type is EventType.SIGNAL_GENERATED:
                # Version 1 never recorded strategy parameters: upcast, they are empty.
                assert mine == {**theirs, "strategy_params": {}}, sequence
                assert theirs["strategy_params"]  # (the pipeline did record them)
            else:
                assert mine == theirs, (sequence, field.name)
        assert event.data == type(source.data).model_validate(event.payload)


def test_verify_replay_explain_and_validate_under_current_code(old_log: str) -> None:
    verified = claire(old_log, "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Hash chain OK" in verified.stdout and "201 events" in verified.stdout

    replayed = claire(old_log, "replay", "--json")
    assert replayed.returncode == 0, replayed.stderr
    state = orjson.loads(replayed.stdout)
    assert state["events_in_range"] == 201

    decision = next(
        e for e in sources().values() if e.event_type is EventType.RISK_DECISION
    )  # the first entry decision, stored as version 1
    explained = claire(old_log, "explain", "--json", str(decision.event_id))
    assert explained.returncode == 0, explained.stderr
    document = orjson.loads(explained.stdout)
    assert document["unverified_events"] == 0
    checks = {c["name"]: c for c in document["risk_checks"]}
    assert set(checks) == set(decision.payload["risk_checks"])
    assert document["signal"]["payload"]["confidence"].startswith("0.")  # a fraction again
    text = claire(old_log, "explain", str(decision.event_id))
    assert text.returncode == 0 and "Risk Checks:" in text.stdout, text.stderr
    assert text.stdout.count("Schema Version: 1 as stored, shown as 2") == 2  # decision, signal

    validated = claire(old_log, "validate", "--json")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    report = orjson.loads(validated.stdout)
    assert (report["deterministic"], report["verdict"], report["not_reexecuted"]) == (
        True,
        "yes",
        [],
    )
    decisions = next(c for c in report["checks"] if c["check"] == "decisions")
    details = decisions["details"]
    assert details["decisions_matched"] == details["decisions_recorded"] == 18
    assert details["decisions_diverged"] == 0


def test_the_old_log_replays_to_the_state_of_the_log_it_was_made_from(
    old_log: str, tmp_path: Path
) -> None:
    records, _ = read_jsonl_export(LOG.read_bytes().splitlines())
    made_from = sources()
    current = [
        made_from.get(r.sequence_number) or event
        for r, event in zip(records, stored_as_is(r.canonical for r in records), strict=True)
    ]
    url = f"sqlite:///{tmp_path / 'v2.db'}"
    with open_store(url, create=True) as store:
        store.append([msgspec.structs.replace(e, sequence_number=None) for e in current])
    old = orjson.loads(claire(old_log, "replay", "--json").stdout)
    new = orjson.loads(claire(url, "replay", "--json").stdout)
    assert old["state_hash"] == new["state_hash"]
    assert old["risk_state"] == new["risk_state"] and old["positions"] == new["positions"]


def api_get(store: Any, *paths: str) -> list[httpx.Response]:
    from claire.api.app import create_app
    from claire.config import Settings

    app = create_app(Settings(), store=store)

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_the_api_serves_version_2_and_the_stored_version_1_record(tmp_path: Path) -> None:
    decision = next(e for e in sources().values() if e.event_type is EventType.RISK_DECISION)
    with open_store(f"sqlite:///{tmp_path / 'v1.db'}", create=True) as store:
        load_export(LOG, store)
        event, record = api_get(
            store, f"/events/{decision.event_id}", f"/events/{decision.event_id}/record"
        )
    assert event.status_code == record.status_code == 200, (event.text, record.text)
    served = event.json()
    assert served["payload"]["risk_checks"] == decision.payload["risk_checks"]
    assert served["metadata"]["schema_version"] == 2
    stored = orjson.loads(record.json()["canonical"])
    assert stored["metadata"]["schema_version"] == 1
    assert isinstance(stored["payload"]["risk_checks"], list)


def test_the_api_refuses_a_newer_version_naming_it(tmp_path: Path) -> None:
    events = trade()
    newer = msgspec.structs.replace(
        events[2], metadata=msgspec.structs.replace(events[2].metadata, schema_version=3)
    )
    with open_store(f"sqlite:///{tmp_path / 'newer.db'}", create=True) as store:
        store.append([*events[:2], newer])
        (response,) = api_get(store, f"/events/{newer.event_id}")
    assert response.status_code == 500
    assert response.json()["error"] == (
        f"cannot read a stored event: the stored event {newer.event_id} at sequence 3: "
        "risk_decision event of schema version 3 is newer than this code knows (it reads "
        "risk_decision up to version 2): upgrade Claire to read it"
    )
    listed = claire(f"sqlite:///{tmp_path / 'newer.db'}", "explain", str(newer.event_id))
    assert listed.returncode == 1
    assert "risk_decision event of schema version 3 is newer than this code knows" in (
        listed.stderr
    )
