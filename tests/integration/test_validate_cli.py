"""`claire validate` through the real entry point, against recorded sessions on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from claire.events import BaseEvent, EventType
from claire.events.codec import canonical_document, event_from_document
from claire.replay.validate import Validator
from claire.store import EventStore, open_store
from claire.store.memory import MemoryEventStore
from tests.integration.test_replay_sessions import (
    ACTIVE,
    Recorded,
    first_of_type,
    record_session,
    recorded,
)

__all__ = ["recorded"]  # the shared recorded session fixture

ROOT = Path(__file__).resolve().parents[2]
CLAIRE = str(Path(sys.executable).parent / "claire")
USER_PIPELINES = "tests.integration.test_replay_user_pipelines"


def claire(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [CLAIRE, *args],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
    )


def copy_log(
    source: EventStore, target: EventStore, edit: Callable[[BaseEvent], BaseEvent]
) -> None:
    batch: list[BaseEvent] = []
    for event in source.read():
        batch.append(event_from_document(canonical_document(edit(event))))
        if len(batch) == 1000:
            target.append(batch)
            batch = []
    target.append(batch)


def with_payload(event: BaseEvent, payload: dict[str, Any]) -> BaseEvent:
    """A stored event with another payload (decoded events are not copied with model_copy)."""
    document = canonical_document(event)
    document["payload"] = payload
    return event_from_document(document)


def test_a_deterministic_session_passes_all_three_checks(recorded: Recorded) -> None:
    url, head = recorded.url, recorded.head
    run = claire("validate", "--sequence", "1", str(head), "--database-url", url)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:5] == [
        "=" * 62,
        "DETERMINISM VALIDATION",
        "=" * 62,
        f"Range: 1 → {head}",
        "Deterministic: ✅ YES",
    ]
    assert any(line.startswith("  ✅ Replay twice: two replays of") for line in lines)
    assert any(line.startswith("  ✅ Snapshots: ") and "snapshots match" for line in lines)
    assert any(line.startswith("  ✅ Decisions re-executed: ") for line in lines)

    run = claire("validate", "--sequence", "1", str(head), "--database-url", url, "--json")
    assert run.returncode == 0
    document = json.loads(run.stdout)
    assert document["deterministic"] is True
    assert document["range"] == {"from_sequence": 1, "to_sequence": head}
    checks = {c["check"]: c for c in document["checks"]}
    assert [c["passed"] for c in checks.values()] == [True, True, True]
    decisions = checks["decisions"]["details"]
    assert decisions["decisions_recorded"] == decisions["decisions_matched"] > 20
    assert decisions["config_source"] == "session_started alert at sequence 1"
    assert decisions["config_hash"] == ACTIVE.config_hash()


def test_a_changed_parameter_fails_and_names_the_first_divergence(
    recorded: Recorded,
) -> None:
    url, head = recorded.url, recorded.head
    with open_store(url, create=True) as store:
        first_risk = first_of_type(store, EventType.RISK_DECISION)
    args = ["validate", "--sequence", "1", str(head), "--database-url", url]
    run = claire(*args, "--set", "risk.max_exposure_pct=0.05")
    assert run.returncode == 1
    out = run.stdout
    assert "Deterministic: ❌ NO" in out
    assert "  ✅ Replay twice" in out and "  ✅ Snapshots" in out
    assert "  ❌ Decisions re-executed" in out
    assert f"  First divergent sequence: {first_risk.sequence_number}" in out
    assert "  Event type: risk_decision" in out
    row = next(
        line for line in out.splitlines() if "payload.risk_checks.max_exposure.limit" in line
    )
    assert row.split()[1:] == ["0.9", "0.05"]
    chain = out.split("Causation chain:")[1].splitlines()[1:4]
    assert [c.strip().split(" (")[0] for c in chain] == [
        "→ market_data",
        "→ signal_generated",
        "→ risk_decision",
    ]
    assert f"→ risk_decision (seq {first_risk.sequence_number})" in out


def test_a_wall_clock_pipeline_given_as_module_factory_fails(pg_url: str) -> None:
    from tests.integration.test_replay_user_pipelines import wall_clock_pipeline

    with open_store(pg_url, create=True) as store:
        head = record_session(store, pipeline=wall_clock_pipeline(ACTIVE))
        first_signal = first_of_type(store, EventType.SIGNAL_GENERATED)
    run = claire(
        "validate",
        "--sequence",
        "1",
        str(head),
        "--database-url",
        pg_url,
        "--pipeline",
        f"{USER_PIPELINES}:wall_clock_pipeline",
        "--json",
    )
    assert run.returncode == 1
    document = json.loads(run.stdout)
    divergence = document["checks"][2]["details"]["first_divergence"]
    assert divergence["sequence_number"] == first_signal.sequence_number
    assert divergence["differences"][0]["field"] == "payload.strategy_params.decided_at"


def _tampered_copy(target_url: str, edit: Callable[[BaseEvent], BaseEvent]) -> int:
    source = MemoryEventStore()
    record_session(source)
    with open_store(target_url, create=True) as target:
        copy_log(source, target, edit)
        return target.head().sequence_number


def test_a_snapshot_with_a_wrong_hash_fails_the_snapshot_check(pg_url: str) -> None:
    wrong = "f" * 64
    tampered: dict[str, Any] = {}

    def edit(event: BaseEvent) -> BaseEvent:
        if event.event_type is EventType.STATE_SNAPSHOT and not tampered:
            tampered["at"] = event.payload["at_sequence"]
            tampered["hash"] = event.payload["state_hash"]
            return with_payload(event, {**event.payload, "state_hash": wrong})
        return event

    head = _tampered_copy(pg_url, edit)
    snapshot_sequence = tampered["at"] + 1  # the recorder stores a snapshot right after its state
    run = claire("validate", "--sequence", "1", str(head), "--database-url", pg_url)
    assert run.returncode == 1
    out = run.stdout
    assert "  ✅ Replay twice" in out and "  ✅ Decisions re-executed" in out
    assert "  ❌ Snapshots: 1 of " in out
    assert (
        f"Snapshot at sequence {snapshot_sequence} (state as of sequence {tampered['at']})" in out
    )
    assert f"Recorded hash: {wrong}" in out
    assert f"Replayed hash: {tampered['hash']}" in out


def test_a_snapshot_whose_state_was_edited_and_rehashed_fails_with_a_diff(pg_url: str) -> None:
    from claire.state.model import SystemState

    def edit(event: BaseEvent) -> BaseEvent:
        if event.event_type is EventType.STATE_SNAPSHOT and event.payload["at_sequence"] > 300:
            state = SystemState.from_document(event.payload["state"])
            state.equity += 1
            payload = {**event.payload, "state": state.to_document(), "state_hash": state.hash()}
            return with_payload(event, payload)
        return event

    head = _tampered_copy(pg_url, edit)
    with open_store(pg_url, create=True) as store:
        report = Validator(store).validate(1, head)
    snapshots = report.check("snapshots")
    assert not snapshots.passed
    assert report.check("replay_twice").passed and report.check("decisions").passed
    failure = snapshots.details["failures"][0]
    assert failure["at_sequence"] > 300
    differences = failure["differences"]["risk_state"]
    assert set(differences) == {"snapshot", "replay"}
    assert "equity" in differences["snapshot"]
    recorded, replayed = differences["snapshot"]["equity"], differences["replay"]["equity"]
    assert float(recorded) - float(replayed) == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--sequence", "9", "3"], 2, "empty range, A (9) is greater than B (3)"),
        (["--sequence", "1", "5", "--set", "risk.nope=1"], 2, "unknown configuration path"),
        (["--sequence", "1", "5", "--set", "risk.max_exposure_pct"], 2, "expected path=value"),
        (["--sequence", "1", "5", "--pipeline", "no.such.module:f"], 2, "cannot import"),
        (["--sequence", "1", "5", "--pipeline", "nothing"], 2, "no pipeline of that name"),
        (["--sequence", "1", "5", "--from", "2025-02-14"], 2, "not both"),
        (["--from", "2025-13-40"], 2, "--from"),
        (["--sequence", "100000", "100001"], 1, "the log ends at sequence"),
    ],
)
def test_bad_input_gives_one_clear_line(
    recorded: Recorded, args: list[str], code: int, message: str
) -> None:
    run = claire("validate", *args, "--database-url", recorded.url)
    assert run.returncode == code, run.stdout + run.stderr
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr


def test_validate_help_shows_examples() -> None:
    run = claire("validate", "--help")
    assert run.returncode == 0
    assert "claire validate --sequence 1 1000" in run.stdout
