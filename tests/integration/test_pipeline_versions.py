"""Decisions are validated against the code that made them (issue 15 §3).

A session recorded by the reference pipeline, then one recorded by `bot-2.0.0`, a second version
that changes one rule (stop-loss alerts are escalated to ERROR). `bot-2.0.0` is registered in
the `claire.pipelines` entry point group by a test-only distribution on the path, so the
commands find it exactly as they find an installed bot's pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from claire.events import BaseEvent, EventType
from claire.pipeline import PipelineConfig, record_csv
from claire.pipeline.pipeline import CODE_VERSION, STOP_LOSS_TRIGGERED, Pipeline
from claire.pipeline.provider import ReferencePipelines, reference
from claire.replay.pipelines import PipelineRegistry
from claire.replay.validate import INCOMPLETE, Validator
from claire.state.model import SystemState
from claire.store import EventStore, open_store
from claire.store.memory import MemoryEventStore
from tests.integration.test_api_service import start_server, stop_server
from tests.integration.test_replay_sessions import ACTIVE, record_session
from tests.integration.test_validate_cli import ROOT, claire
from tests.integration.test_validate_sessions import write_bars
from tests.registration import write_registrations

V2 = "bot-2.0.0"


class EscalatingPipeline(Pipeline):
    """bot-2.0.0: the reference pipeline, except that stop-loss alerts are ERRORs."""

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        return [_escalated(d) for d in super().process(state, event)]


def _escalated(decision: BaseEvent) -> BaseEvent:
    if decision.event_type is not EventType.ALERT:
        return decision
    if decision.payload["code"] != STOP_LOSS_TRIGGERED:
        return decision
    return decision.model_copy(update={"payload": {**decision.payload, "level": "ERROR"}})


class BotV2(ReferencePipelines):
    code_versions = (V2,)

    def build(self, config: PipelineConfig) -> Pipeline:
        return EscalatingPipeline(config, code_version=V2)


bot_v2 = BotV2()  # registered as `bot-v2 = tests.integration.test_pipeline_versions:bot_v2`


@dataclass(frozen=True)
class Log:
    url: str
    registrations: Path  # a path entry whose distribution registers bot-v2
    first: tuple[int, int]  # the reference session
    second: tuple[int, int]  # the bot-2.0.0 session

    def run(self, *args: str, registered: bool = True) -> tuple[int, str]:
        path = [str(self.registrations)] if registered else []
        env = {"PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
        done = claire(*args, "--database-url", self.url, env=env)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    directory = tmp_path_factory.mktemp("versions")
    url = f"sqlite:///{directory / 'store.db'}"
    for day, name in enumerate(("a.csv", "b.csv"), start=1):
        write_bars(directory / name, seed=day, price=100.0 * day, day=day)
    run = claire(
        "record",
        "--market-data",
        str(directory / "a.csv"),
        "--symbol",
        "BTCUSDT",
        "--database-url",
        url,
        "--json",
    )
    assert run.returncode == 0, run.stderr
    first = json.loads(run.stdout)
    with open_store(url) as store:
        second = record_csv(
            store,
            directory / "b.csv",
            "ETHUSDT",
            pipeline=EscalatingPipeline(PipelineConfig(), code_version=V2),
        )
        assert second.stop_losses > 0  # the changed rule shows in this session
    registrations = write_registrations(directory / "registered", {"bot-v2": f"{__name__}:bot_v2"})
    return Log(
        url,
        registrations,
        (first["first_sequence"], first["last_sequence"]),
        (second.first_sequence, second.last_sequence),
    )


def test_each_part_is_validated_with_the_version_that_recorded_it(log: Log) -> None:
    code, out = log.run("validate")
    assert code == 0, out
    assert "Deterministic: ✅ YES" in out
    (a, b), (c, d) = log.first, log.second
    assert f"  ✅ {a} → {b}: " in out and f"code version {CODE_VERSION} (pipeline reference)" in out
    assert f"  ✅ {c} → {d}: " in out and f"code version {V2} (pipeline bot-v2)" in out

    code, out = log.run("validate", "--sequence", str(b - 10), str(c + 10), "--json")
    parts = json.loads(out)["checks"][2]["details"]["parts"]
    assert [(p["from_sequence"], p["to_sequence"], p["code_version"]) for p in parts] == [
        (b - 10, b, CODE_VERSION),
        (c, c + 10, V2),
    ]


def test_a_version_nobody_registered_is_named_and_exits_3(log: Log) -> None:
    (a, b), (c, d) = log.first, log.second
    code, out = log.run("validate", registered=False)
    assert code == 3, out
    assert "Deterministic: ⚠️  NOT ESTABLISHED" in out
    assert (
        f"  decisions of `{V2}` (sequences {c}–{d}): no pipeline registered for this version"
        " — not re-executed"
    ) in out
    assert f"  ✅ {a} → {b}: " in out  # the reference part is still checked
    assert "❌" not in out  # no false divergence

    code, out = log.run("validate", "--json", registered=False)
    assert code == 3
    document = json.loads(out)
    assert document["deterministic"] is None and document["verdict"] == INCOMPLETE
    (missing,) = document["not_reexecuted"]
    assert missing["code_version"] == V2 and missing["ranges"] == [[c, d]]

    code, out = log.run("replay", "--set", "risk.min_confidence=0.5", registered=False)
    assert code == 3
    assert out.startswith(f"error: decisions of `{V2}` (sequences {c}–{d})")


def test_without_the_old_versions_registration_its_decisions_are_not_reexecuted(
    log: Log,
) -> None:
    a, b = log.first
    registry = PipelineRegistry([("bot-v2", bot_v2)])  # the reference is gone
    with open_store(log.url) as store:
        report = Validator(store, registry=registry).validate(1, None)
    assert report.verdict == INCOMPLETE and report.check("decisions").passed
    (missing,) = report.not_reexecuted
    assert missing.message == (
        f"decisions of `{CODE_VERSION}` (sequences {a}–{b}): no pipeline registered for this "
        "version — not re-executed"
    )
    assert missing.decisions > 0


def test_the_wrong_version_is_a_divergence(log: Log) -> None:
    c, d = log.second
    code, out = log.run("validate", "--sequence", str(c), str(d), "--pipeline", "reference")
    assert code == 1, out
    assert "metadata.code_version" in out and V2 in out


def test_diff_versions_shows_the_decisions_the_changed_rule_makes_differently(log: Log) -> None:
    a, b = log.first
    with open_store(log.url) as store:
        stop_losses = [
            e
            for e in store.read(a, b, event_types=[EventType.ALERT])
            if e.payload["code"] == STOP_LOSS_TRIGGERED
        ]
    assert stop_losses
    args = ["diff-versions", "--sequence", str(a), str(b), "--pipeline", "reference"]
    code, out = log.run(*args, "--pipeline", "bot-v2", "--json")
    assert code == 0, out
    document = json.loads(out)
    assert document["new"] == {"pipeline": "bot-v2", "code_versions": [V2]}
    assert document["decisions_old"] == document["decisions_new"] > len(stop_losses)
    assert document["decisions_differ"] == len(stop_losses)
    assert document["trades_appeared"] == document["trades_disappeared"] == []
    for difference in document["differences"]:
        assert difference["kind"] == "changed" and difference["event_type"] == "alert"
        assert difference["differences"] == [
            {"field": "payload.level", "recorded": "WARNING", "replayed": "ERROR"}
        ]
    with open_store(log.url) as store:
        inputs = {str(store.causation_chain(e.event_id)[0].sequence_number) for e in stop_losses}
    assert {str(d["input_sequence"]) for d in document["differences"]} == inputs

    code, out = log.run(*args, "--pipeline", V2)  # a code version names its pipeline too
    assert code == 0, out
    assert f"Decisions: {document['decisions_old']:,} old" in out
    assert f", {len(stop_losses)} differ" in out
    assert "alert differs" in out and "payload.level" in out

    code, out = log.run("diff-versions", "--pipeline", "reference")
    assert code == 2 and "give it twice" in out


class Redeployed(Pipeline):
    """The reference code until `switch` market data inputs, then bot-2.0.0 (a redeploy in
    the middle of a session)."""

    def __init__(self, config: PipelineConfig, switch: int) -> None:
        super().__init__(config)
        self.after = EscalatingPipeline(config, code_version=V2)
        self.left = switch

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        if event.event_type is EventType.MARKET_DATA:
            self.left -= 1
        if self.left < 0:
            return self.after.process(state, event)
        return super().process(state, event)


@pytest.fixture(scope="module")
def redeployed() -> Iterator[EventStore]:
    store = MemoryEventStore()
    record_session(store, ACTIVE, pipeline=Redeployed(ACTIVE, switch=300), bars_per_symbol=200)
    yield store


def test_a_version_change_inside_a_session_is_validated_piece_by_piece(
    redeployed: EventStore,
) -> None:
    registry = PipelineRegistry([("reference", reference), ("bot-v2", bot_v2)])
    report = Validator(redeployed, registry=registry).validate(1, None)
    assert report.deterministic, report.to_document()["checks"][2]
    parts = report.check("decisions").details["parts"]
    assert [p["code_version"] for p in parts] == [CODE_VERSION, V2]
    assert parts[0]["from_sequence"] == 1
    assert parts[1]["from_sequence"] == parts[0]["to_sequence"] + 1
    first_v2 = next(
        e
        for e in redeployed.read(event_types=[EventType.SIGNAL_GENERATED, EventType.RISK_DECISION])
        if e.metadata.code_version == V2
    )
    # The second part starts at the input of the first decision bot-2.0.0 made.
    (root, *_) = redeployed.causation_chain(first_v2.event_id)
    assert root.event_type is EventType.MARKET_DATA
    assert parts[1]["from_sequence"] == root.sequence_number
    assert all(p["decisions_matched"] == p["decisions_recorded"] > 0 for p in parts)


def test_a_what_if_over_a_version_nobody_registered_is_a_422_naming_it(log: Log) -> None:
    """POST /whatif says what `claire replay --set` says, as a 422, not a 500."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": log.url}
    for name in ("REDIS_URL", "CLAIRE_READ_TOKEN", "CLAIRE_WRITE_TOKEN"):
        env.pop(name, None)
    server = start_server(env, "--no-ingest")
    try:
        (c, d) = log.second
        body = {"overrides": {"risk.max_open_positions": "1"}, "from_sequence": c}
        answer = httpx.post(f"{server.url}/whatif", json=body, timeout=60)
        registered = httpx.post(
            f"{server.url}/whatif", json={**body, "to_sequence": c - 1, "from_sequence": 1},
            timeout=60,
        )  # fmt: skip
    finally:
        stop_server(server)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert f"decisions of `{V2}` (sequences {c}–{d}): no pipeline registered" in error
    assert answer.json()["problems"] == [{"field": "body", "reason": error}]
    assert registered.status_code == 200, registered.text  # the reference part re-executes
