"""Validation must catch what breaks determinism: each rule here is injected into a pipeline
(as a user's `module:factory` would be) and the check must name the first divergence.

The factories below are loadable as `tests.integration.test_replay_user_pipelines:<name>`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from claire.events import BaseEvent, EventType
from claire.pipeline import Pipeline, PipelineConfig, reference_pipeline
from claire.replay.validate import ValidationReport, Validator
from claire.state.model import SystemState
from claire.store import EventStore, open_store
from tests.integration.test_replay_sessions import (
    ACTIVE,
    Recorded,
    decisions_of,
    first_of_type,
    record_session,
    recorded,
)

__all__ = ["recorded"]  # the shared recorded session fixture

Rewrite = Callable[[BaseEvent], BaseEvent]


class RewritingPipeline:
    """The reference pipeline with one rule changed: `rewrite` edits each decision it emits."""

    def __init__(self, inner: Pipeline, rewrite: Rewrite) -> None:
        self.inner = inner
        self.rewrite = rewrite

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        return [self.rewrite(decision) for decision in self.inner.process(state, event)]

    def __getattr__(self, name: str) -> Any:
        # The recorder reads the pipeline's config and factory: those of the inner pipeline.
        return getattr(self.inner, name)


def _with_payload(event: BaseEvent, **changes: Any) -> BaseEvent:
    return event.model_copy(update={"payload": {**event.payload, **changes}})


def _signal_stamped_with_wall_clock(event: BaseEvent) -> BaseEvent:
    if event.event_type is not EventType.SIGNAL_GENERATED:
        return event
    params = {**event.payload["strategy_params"], "decided_at": datetime.now(UTC).isoformat()}
    return _with_payload(event, strategy_params=params)


def _signal_with_random_confidence(event: BaseEvent) -> BaseEvent:
    if event.event_type is not EventType.SIGNAL_GENERATED:
        return event
    jitter = Decimal(random.randint(1, 10**9)) / Decimal(10**12)  # unseeded on purpose
    return _with_payload(event, confidence=str(Decimal(event.payload["confidence"]) - jitter))


def _fee_through_float(event: BaseEvent) -> BaseEvent:
    if event.event_type is not EventType.ORDER_RESULT:
        return event
    # Money through a binary float: 24.2753 becomes 24.27529999999999921556...
    return _with_payload(event, fee=str(Decimal(float(event.payload["fee"]) * 1.0)))


def wall_clock_pipeline(config: PipelineConfig | None = None) -> RewritingPipeline:
    return RewritingPipeline(reference_pipeline(config), _signal_stamped_with_wall_clock)


def random_pipeline(config: PipelineConfig | None = None) -> RewritingPipeline:
    return RewritingPipeline(reference_pipeline(config), _signal_with_random_confidence)


def float_money_pipeline(config: PipelineConfig | None = None) -> RewritingPipeline:
    return RewritingPipeline(reference_pipeline(config), _fee_through_float)


class DroppingPipeline:
    """Forgets to emit position updates (they are still folded): a missing decision."""

    def __init__(self, config: PipelineConfig | None) -> None:
        self.inner = reference_pipeline(config)

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        decisions = self.inner.process(state, event)
        return [d for d in decisions if d.event_type is not EventType.POSITION_UPDATE]


def dropping_pipeline(config: PipelineConfig | None = None) -> DroppingPipeline:
    return DroppingPipeline(config)


class ChattyPipeline:
    """Emits one decision more than was recorded: a copy of every risk decision's alert."""

    def __init__(self, config: PipelineConfig | None) -> None:
        self.inner = reference_pipeline(config)

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        decisions = self.inner.process(state, event)
        if decisions:
            decisions.append(decisions[-1].model_copy(update={"event_id": _fresh_id()}))
        return decisions


def chatty_pipeline(config: PipelineConfig | None = None) -> ChattyPipeline:
    return ChattyPipeline(config)


def _fresh_id() -> Any:
    import uuid

    return uuid.uuid4()


MODULE = __name__


@pytest.fixture
def store(pg_url: str) -> Iterator[EventStore]:
    """A fresh database, for sessions recorded by a non-deterministic pipeline."""
    with open_store(pg_url, create=True) as pg_store:
        yield pg_store


@pytest.fixture
def reference_store(recorded: Recorded) -> Iterator[EventStore]:
    """The shared session recorded by the reference pipeline (read only)."""
    with recorded.open() as pg_store:
        yield pg_store


def _validate(store: EventStore, pipeline: str, **options: Any) -> ValidationReport:
    head = store.head().sequence_number
    return Validator(store, pipeline=f"{MODULE}:{pipeline}", **options).validate(1, head)


def _only_decisions_fail(report: ValidationReport) -> dict[str, Any]:
    assert report.check("replay_twice").passed
    assert report.check("snapshots").passed
    decisions = report.check("decisions")
    assert not decisions.passed and not report.deterministic
    divergence: dict[str, Any] = decisions.details["first_divergence"]
    return divergence


def _fields(divergence: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {d["field"]: (d["recorded"], d["replayed"]) for d in divergence["differences"]}


def test_a_rule_reading_the_wall_clock_is_caught_at_the_first_signal(store: EventStore) -> None:
    record_session(store, ACTIVE, pipeline=wall_clock_pipeline(ACTIVE))
    divergence = _only_decisions_fail(_validate(store, "wall_clock_pipeline"))
    first_signal = first_of_type(store, EventType.SIGNAL_GENERATED)
    assert divergence["sequence_number"] == first_signal.sequence_number
    assert divergence["event_type"] == "signal_generated"
    assert divergence["kind"] == "changed"
    assert list(_fields(divergence)) == ["payload.strategy_params.decided_at"]
    chain = [link["event_type"] for link in divergence["causation_chain"]]
    assert chain == ["market_data", "signal_generated"]
    assert divergence["causation_chain"][0]["sequence_number"] == divergence["input_sequence"]


def test_unseeded_randomness_is_caught_at_the_first_signal(store: EventStore) -> None:
    record_session(store, ACTIVE, pipeline=random_pipeline(ACTIVE))
    divergence = _only_decisions_fail(_validate(store, "random_pipeline"))
    assert (
        divergence["sequence_number"]
        == first_of_type(store, EventType.SIGNAL_GENERATED).sequence_number
    )
    recorded, replayed = _fields(divergence)["payload.confidence"]
    assert recorded != replayed


def test_float_arithmetic_on_money_is_caught_at_the_first_fill(reference_store: EventStore) -> None:
    store = reference_store
    divergence = _only_decisions_fail(_validate(store, "float_money_pipeline"))
    fill = first_of_type(store, EventType.ORDER_RESULT)
    assert divergence["sequence_number"] == fill.sequence_number
    assert divergence["event_type"] == "order_result"
    recorded, replayed = _fields(divergence)["payload.fee"]
    assert recorded == fill.payload["fee"]
    assert Decimal(replayed) != Decimal(recorded) and len(replayed) > 20
    assert [link["event_type"] for link in divergence["causation_chain"]] == [
        "market_data",
        "signal_generated",
        "risk_decision",
        "order_request",
        "order_result",
    ]


def test_a_missing_decision_is_a_divergence(reference_store: EventStore) -> None:
    store = reference_store
    divergence = _only_decisions_fail(_validate(store, "dropping_pipeline"))
    update = first_of_type(store, EventType.POSITION_UPDATE)
    assert divergence["kind"] == "missing"
    assert divergence["sequence_number"] == update.sequence_number
    assert divergence["event_type"] == "position_update"
    assert _fields(divergence) == {"event": ("position_update", None)}


def test_an_extra_decision_is_a_divergence(reference_store: EventStore) -> None:
    store = reference_store
    divergence = _only_decisions_fail(_validate(store, "chatty_pipeline"))
    input_sequence = (first_of_type(store, EventType.SIGNAL_GENERATED).sequence_number or 0) - 1
    group = decisions_of(store, input_sequence)
    assert divergence["kind"] == "extra"
    assert divergence["input_sequence"] == input_sequence
    assert divergence["sequence_number"] == (group[-1].sequence_number or 0) + 1
    assert divergence["event_type"] == group[-1].event_type.value
    assert divergence["causation_chain"][-1]["event_id"] == "(replayed only)"
