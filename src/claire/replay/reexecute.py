"""Decision re-execution: run a pipeline on the recorded inputs and compare what it decides.

For each recorded input (market data) in the range, the pipeline is called in `ReplayMode` with
the state as it stands (rebuilt from the replayed decisions, not the recorded ones) and its
decisions are compared (see claire.replay.compare) with the recorded decisions of that input:
the events that follow it and descend from it through causation_id. With a `baseline` pipeline
(diff-versions), the decisions compared with are the baseline's, made on its own state from the
same inputs, and the recorded decisions are skipped.

Events of the range that are neither inputs nor decisions of an input in the range (the
session_started alert, snapshots, decisions whose input lies before the range) are folded as
recorded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.replay.compare import ChainLink, Divergence, compare_decisions
from claire.replay.diff import FieldDifference
from claire.replay.engine import ProgressCallback
from claire.state.mode import ReplayMode
from claire.state.model import SystemState
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore

INPUT_TYPES = (EventType.MARKET_DATA,)


class DecisionPipeline(Protocol):
    """What re-execution needs of a pipeline (claire.pipeline.Pipeline has this shape)."""

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]: ...


@dataclass(slots=True)
class ReexecutionResult:
    first_sequence: int
    last_sequence: int
    inputs: int = 0
    decisions_recorded: int = 0  # or made by the baseline
    decisions_replayed: int = 0
    decisions_matched: int = 0
    decisions_changed: int = 0
    first_divergence: Divergence | None = None
    divergences: list[Divergence] = field(default_factory=list)  # the first `keep` of them
    replayed_state: SystemState = field(default_factory=SystemState)
    recorded_state: SystemState | None = None  # or the baseline's
    trades_recorded: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    trades_replayed: dict[str, None] = field(default_factory=dict)
    blocked_calls: dict[str, int] = field(default_factory=dict)
    events_read: int = 0
    elapsed_seconds: float = 0.0

    @property
    def deterministic(self) -> bool:
        return self.first_divergence is None

    @property
    def events_per_second(self) -> float:
        return self.events_read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(slots=True)
class _Group:
    """An input, what the pipeline decided on it, and what was recorded (or the baseline
    decided) for it."""

    input: BaseEvent
    replayed: list[BaseEvent]
    recorded: list[BaseEvent] = field(default_factory=list)
    ids: set[UUID] = field(default_factory=set)


class Reexecution:
    """One pass over a range; `run()` returns the comparison."""

    def __init__(
        self,
        store: EventStore,
        pipeline: DecisionPipeline,
        first: int,
        last: int,
        start_state: SystemState,
        *,
        ignore_fields: Iterable[str] = (),
        track_recorded_state: bool = False,
        recorded_state: SystemState | None = None,
        baseline: DecisionPipeline | None = None,
        keep: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.baseline = baseline
        self.first, self.last = first, last
        self.ignore = tuple(ignore_fields)
        self.keep = keep
        self.batch_size = batch_size
        self.progress = progress
        self.result = ReexecutionResult(first, last, replayed_state=start_state)
        if recorded_state is not None:  # a previous part's recorded (or baseline) state
            self.result.recorded_state = recorded_state
        elif track_recorded_state or baseline is not None:
            self.result.recorded_state = start_state.copy()

    def run(self) -> ReexecutionResult:
        started = time.perf_counter()
        result = self.result
        state = result.replayed_state
        fold = state.apply
        other = result.recorded_state.apply if result.recorded_state is not None else None
        # The recorded state folds every event; a baseline's folds what it did not decide.
        record, fold_other = (other, None) if self.baseline is None else (None, other)
        progress, batch = self.progress, self.batch_size
        total = self.last - self.first + 1
        group: _Group | None = None
        ids: set[UUID] = set()  # the current input and its recorded decisions so far
        read = 0
        with ReplayMode() as mode:
            advance = mode.advance
            for event in self.store.read(self.first, self.last, batch_size=batch):
                read += 1
                advance(event.timestamp_utc)
                if record is not None:
                    record(event)
                if event.event_type in INPUT_TYPES:
                    if group is not None:
                        self._close(group)
                    group = self._execute(state, event)
                    if group is None:
                        break
                    ids = group.ids
                elif group is not None and event.causation_id in ids:
                    if self.baseline is None:
                        group.recorded.append(event)
                    ids.add(event.event_id)
                else:
                    fold(event)
                    if fold_other is not None:
                        fold_other(event)
                if progress is not None and read % batch == 0:
                    progress(read, total)
            if group is not None:
                self._close(group)
        if progress is not None:
            progress(read, total)
        result.events_read = read
        result.blocked_calls = dict(mode.blocked)
        result.elapsed_seconds = time.perf_counter() - started
        if result.first_divergence is not None:
            result.first_divergence.causation_chain = self._chain(result.first_divergence)
        return result

    def _execute(self, state: SystemState, event: BaseEvent) -> _Group | None:
        self.result.inputs += 1
        replayed = self._decide(self.pipeline, state, event)
        if replayed is None:
            return None
        group = _Group(event, replayed, ids={event.event_id})
        if self.baseline is not None:
            assert self.result.recorded_state is not None
            expected = self._decide(self.baseline, self.result.recorded_state, event)
            if expected is None:
                return None
            group.recorded = expected
        self.result.decisions_replayed += len(replayed)
        _note_trades(self.result.trades_replayed, replayed)
        return group

    def _decide(
        self, pipeline: DecisionPipeline, state: SystemState, event: BaseEvent
    ) -> list[BaseEvent] | None:
        try:
            return list(pipeline.process(state, event))
        except Exception as exc:  # a user's pipeline may raise anything; report, do not crash
            sequence = event.sequence_number or 0
            self._diverged(
                Divergence(
                    "error",
                    sequence,
                    event.event_type.value,
                    sequence,
                    [FieldDifference("exception", None, f"{type(exc).__name__}: {exc}")],
                    recorded_event_id=str(event.event_id),
                )
            )
            return None

    def _close(self, group: _Group) -> None:
        if not group.replayed and not group.recorded:
            return  # most inputs decide nothing
        result = self.result
        result.decisions_recorded += len(group.recorded)
        _note_trades(result.trades_recorded, group.recorded)
        matched, divergences = compare_decisions(
            group.input, group.recorded, group.replayed, self.ignore
        )
        result.decisions_matched += matched
        for divergence in divergences:
            self._diverged(divergence)

    def _diverged(self, divergence: Divergence) -> None:
        result = self.result
        result.decisions_changed += 1
        if result.first_divergence is None:
            result.first_divergence = divergence
        if len(result.divergences) < self.keep:
            result.divergences.append(divergence)

    def _chain(self, divergence: Divergence) -> list[ChainLink]:
        """The recorded causation chain, root first (for an extra decision: its cause's)."""
        anchor = divergence.recorded_event_id or divergence.replayed_causation
        if anchor is None or anchor.startswith("replayed:") or self.baseline is not None:
            return []  # neither side of a version diff was stored
        chain = [
            ChainLink(e.event_type.value, e.sequence_number, str(e.event_id))
            for e in self.store.causation_chain(UUID(anchor))
        ]
        if divergence.kind == "extra":
            chain.append(ChainLink(divergence.event_type, None, "(replayed only)"))
        return chain


def _note_trades(trades: dict[str, None], decisions: list[BaseEvent]) -> None:
    for decision in decisions:
        if decision.event_type is EventType.ORDER_REQUEST:
            trades[str(decision.correlation_id)] = None


def reexecute(
    store: EventStore,
    pipeline: DecisionPipeline,
    first: int,
    last: int,
    start_state: SystemState,
    **options: Any,
) -> ReexecutionResult:
    """Re-run `pipeline` on the recorded inputs first..last from `start_state` (see Reexecution)."""
    return Reexecution(store, pipeline, first, last, start_state, **options).run()


def combine(results: list[ReexecutionResult]) -> ReexecutionResult:
    """The parts of a range re-executed one after another, as one result (in range order)."""
    last = results[-1]
    total = ReexecutionResult(
        results[0].first_sequence,
        last.last_sequence,
        replayed_state=last.replayed_state,
        recorded_state=last.recorded_state,
    )
    blocked: Counter[str] = Counter()
    for part in results:
        total.inputs += part.inputs
        total.decisions_recorded += part.decisions_recorded
        total.decisions_replayed += part.decisions_replayed
        total.decisions_matched += part.decisions_matched
        total.decisions_changed += part.decisions_changed
        if total.first_divergence is None:
            total.first_divergence = part.first_divergence
        total.divergences.extend(part.divergences)
        total.trades_recorded.update(part.trades_recorded)
        total.trades_replayed.update(part.trades_replayed)
        blocked.update(part.blocked_calls)
        total.events_read += part.events_read
        total.elapsed_seconds += part.elapsed_seconds
    total.blocked_calls = dict(blocked)
    return total


PipelineFactory = Callable[..., DecisionPipeline]

__all__ = [
    "INPUT_TYPES",
    "ChainLink",
    "DecisionPipeline",
    "Divergence",
    "PipelineFactory",
    "Reexecution",
    "ReexecutionResult",
    "combine",
    "reexecute",
]
