"""Decision re-execution: run a pipeline on the recorded inputs and compare what it decides.

For each recorded input (market data) in the range, the pipeline is called in `ReplayMode` with
the state as it stands (rebuilt from the replayed decisions, not the recorded ones) and its
decisions are compared, position by position, with the recorded decisions of that input (the
events that follow it and descend from it through causation_id). Every field counts except
event_id, sequence_number and timestamp_utc; a replayed causation_id is first mapped to the
recorded event its cause corresponds to. A missing or an extra decision is a divergence.

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
from claire.gc_tuning import relaxed_gc
from claire.replay.diff import FieldDifference, event_diff
from claire.replay.engine import ProgressCallback, stream
from claire.state.mode import ReplayMode
from claire.state.model import SystemState
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore

INPUT_TYPES = (EventType.MARKET_DATA,)


class DecisionPipeline(Protocol):
    """What re-execution needs of a pipeline (claire.pipeline.Pipeline has this shape)."""

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]: ...


@dataclass(frozen=True, slots=True)
class ChainLink:
    event_type: str
    sequence_number: int | None
    event_id: str

    def to_document(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "sequence_number": self.sequence_number,
            "event_id": self.event_id,
        }


@dataclass(slots=True)
class Divergence:
    """One decision where the replay and the recording disagree.

    kind: "changed" (both exist, fields differ), "missing" (recorded, not replayed), "extra"
    (replayed, not recorded; `sequence_number` is where it would have been stored) or "error"
    (the pipeline raised on the input at `sequence_number`).
    """

    kind: str
    sequence_number: int
    event_type: str
    input_sequence: int
    differences: list[FieldDifference]
    recorded_event_id: str | None = None
    replayed_causation: str | None = None
    causation_chain: list[ChainLink] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sequence_number": self.sequence_number,
            "event_type": self.event_type,
            "input_sequence": self.input_sequence,
            "recorded_event_id": self.recorded_event_id,
            "differences": [d.to_document() for d in self.differences],
            "causation_chain": [c.to_document() for c in self.causation_chain],
        }


@dataclass(slots=True)
class ReexecutionResult:
    first_sequence: int
    last_sequence: int
    inputs: int = 0
    decisions_recorded: int = 0
    decisions_replayed: int = 0
    decisions_matched: int = 0
    decisions_changed: int = 0
    first_divergence: Divergence | None = None
    replayed_state: SystemState = field(default_factory=SystemState)
    recorded_state: SystemState | None = None
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
    """An input, what the pipeline decided on it, and what was recorded for it."""

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
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.first, self.last = first, last
        self.ignore = tuple(ignore_fields)
        self.batch_size = batch_size
        self.progress = progress
        self.result = ReexecutionResult(first, last, replayed_state=start_state)
        if recorded_state is not None:  # a previous part's recorded state, carried on
            self.result.recorded_state = recorded_state
        elif track_recorded_state:
            self.result.recorded_state = start_state.copy()

    def run(self) -> ReexecutionResult:
        started = time.perf_counter()
        result = self.result
        state = result.replayed_state
        fold = state.apply
        record = result.recorded_state.apply if result.recorded_state is not None else None
        progress, batch = self.progress, self.batch_size
        total = self.last - self.first + 1
        group: _Group | None = None
        ids: set[UUID] = set()  # the current input and its recorded decisions so far
        read = 0
        with ReplayMode() as mode, relaxed_gc():
            advance = mode.advance
            for event in stream(self.store, self.first, self.last, batch):
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
                    group.recorded.append(event)
                    ids.add(event.event_id)
                else:
                    fold(event)
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
        try:
            replayed = list(self.pipeline.process(state, event))
        except Exception as exc:  # a user's pipeline may raise anything; report, do not crash
            self._diverged(
                Divergence(
                    "error",
                    event.sequence_number or 0,
                    event.event_type.value,
                    event.sequence_number or 0,
                    [FieldDifference("exception", None, f"{type(exc).__name__}: {exc}")],
                    recorded_event_id=str(event.event_id),
                )
            )
            return None
        self.result.decisions_replayed += len(replayed)
        for decision in replayed:
            if decision.event_type is EventType.ORDER_REQUEST:
                self.result.trades_replayed[str(decision.correlation_id)] = None
        return _Group(event, replayed, ids={event.event_id})

    def _close(self, group: _Group) -> None:
        if not group.replayed and not group.recorded:
            return  # most inputs decide nothing
        result = self.result
        result.decisions_recorded += len(group.recorded)
        for decision in group.recorded:
            if decision.event_type is EventType.ORDER_REQUEST:
                result.trades_recorded[str(decision.correlation_id)] = None
        # Replayed ids are new: map each to the recorded event it stands for, so that the
        # causation_id of the next decision can be compared with the recorded one.
        mapping: dict[UUID, UUID] = {group.input.event_id: group.input.event_id}
        position = group.recorded[-1].sequence_number if group.recorded else None
        input_sequence = group.input.sequence_number or 0
        for index in range(max(len(group.replayed), len(group.recorded))):
            replayed = group.replayed[index] if index < len(group.replayed) else None
            recorded = group.recorded[index] if index < len(group.recorded) else None
            if replayed is not None and recorded is not None:
                cause = _mapped(mapping, replayed.causation_id)
                mapping[replayed.event_id] = recorded.event_id
                if _same(recorded, replayed, cause, self.ignore):
                    result.decisions_matched += 1
                    continue
                differences = event_diff(
                    recorded, replayed, replayed_causation=cause, ignore=self.ignore
                )
                if not differences:
                    result.decisions_matched += 1
                    continue
                self._diverged(
                    Divergence(
                        "changed",
                        recorded.sequence_number or 0,
                        recorded.event_type.value,
                        input_sequence,
                        differences,
                        recorded_event_id=str(recorded.event_id),
                    )
                )
            elif recorded is not None:
                self._diverged(
                    Divergence(
                        "missing",
                        recorded.sequence_number or 0,
                        recorded.event_type.value,
                        input_sequence,
                        [FieldDifference("event", recorded.event_type.value, None)],
                        recorded_event_id=str(recorded.event_id),
                    )
                )
            elif replayed is not None:
                base = position if position is not None else input_sequence
                cause = _mapped(mapping, replayed.causation_id)
                self._diverged(
                    Divergence(
                        "extra",
                        base + index - len(group.recorded) + 1,
                        replayed.event_type.value,
                        input_sequence,
                        [FieldDifference("event", None, replayed.event_type.value)],
                        replayed_causation=cause,
                    )
                )

    def _diverged(self, divergence: Divergence) -> None:
        self.result.decisions_changed += 1
        if self.result.first_divergence is None:
            self.result.first_divergence = divergence

    def _chain(self, divergence: Divergence) -> list[ChainLink]:
        """The recorded causation chain, root first (for an extra decision: its cause's)."""
        anchor = divergence.recorded_event_id or divergence.replayed_causation
        if anchor is None or anchor.startswith("replayed:"):
            return []
        chain = [
            ChainLink(e.event_type.value, e.sequence_number, str(e.event_id))
            for e in self.store.causation_chain(UUID(anchor))
        ]
        if divergence.kind == "extra":
            chain.append(ChainLink(divergence.event_type, None, "(replayed only)"))
        return chain


def _mapped(mapping: dict[UUID, UUID], cause: UUID | None) -> str | None:
    if cause is None:
        return None
    found = mapping.get(cause)
    # A cause the recording has no counterpart for can never equal a recorded id.
    return str(found) if found is not None else f"replayed:{cause}"


def _same(
    recorded: BaseEvent, replayed: BaseEvent, cause: str | None, ignore: tuple[str, ...]
) -> bool:
    """Fast path: equal on every compared field without building field-by-field diffs."""
    if any(not name.startswith("metadata.") for name in ignore):
        return False  # let the field-by-field diff decide what is ignored
    return (
        recorded.event_type is replayed.event_type
        and recorded.timestamp_logical == replayed.timestamp_logical
        and recorded.correlation_id == replayed.correlation_id
        and (str(recorded.causation_id) if recorded.causation_id else None) == cause
        and recorded.payload == replayed.payload
        and _metadata(recorded, ignore) == _metadata(replayed, ignore)
    )


def _metadata(event: BaseEvent, ignore: tuple[str, ...]) -> dict[str, Any]:
    document = event.metadata.model_dump(mode="json", exclude_none=True)
    for name in ignore:
        document.pop(name.removeprefix("metadata."), None)
    return document


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
