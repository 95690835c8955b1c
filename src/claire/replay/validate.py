"""Determinism validation of a range A..B: three checks, each reported on its own.

1. Replay twice: two independent folds of the log from the start to B give equal states
   (the seed's check); on failure, a structured diff of the two states in the seed's shape.
2. Snapshots: every `state_snapshot` stored in A..B has the hash of the state the replay rebuilt
   at its `at_sequence`, and its own state document hashes to that recorded hash.
3. Decisions: the pipeline re-executed on the recorded inputs of A..B emits exactly the
   recorded decisions (see claire.replay.reexecute). The range is cut into parts, one per
   session (see claire.replay.parts); each part runs with the configuration its session
   recorded, from the state the log records just before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from claire.events.codec import content_hash
from claire.events.payloads import EventType
from claire.replay.checks import CheckResult, decision_check
from claire.replay.diff import state_diff
from claire.replay.engine import Checkpoint, ReplayEngine, ReplayResult
from claire.replay.pipelines import MissingVersion, PipelineRegistry, prepare
from claire.replay.reexecute import ReexecutionResult, reexecute
from claire.state.model import SystemState
from claire.state.snapshots import CheckedSnapshot
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore

StageProgress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "replay 1", "replay 2" or "decisions"."""

CONFIG_HASH_FIELD = "metadata.config_hash"
YES, NO, INCOMPLETE = "yes", "no", "incomplete"


@dataclass(slots=True)
class ValidationReport:
    first_sequence: int
    last_sequence: int
    checks: list[CheckResult]
    elapsed_seconds: float
    # Decisions of code versions no registered pipeline re-executes: not checked.
    not_reexecuted: list[MissingVersion] = field(default_factory=list)
    # Snapshots whose hash this fold from the start rebuilt (`--record-verification` records them).
    matched_snapshots: list[CheckedSnapshot] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """NO if a check failed, else INCOMPLETE if decisions went unchecked, else YES."""
        if not all(check.passed for check in self.checks):
            return NO
        return INCOMPLETE if self.not_reexecuted else YES

    @property
    def deterministic(self) -> bool:
        return self.verdict == YES

    def check(self, key: str) -> CheckResult:
        return next(c for c in self.checks if c.key == key)

    def to_document(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "range": {"from_sequence": self.first_sequence, "to_sequence": self.last_sequence},
            # Unknown (null), not false, when nothing failed but some decisions went unchecked.
            "deterministic": None if verdict == INCOMPLETE else verdict == YES,
            "verdict": verdict,
            "not_reexecuted": [m.to_document() for m in self.not_reexecuted],
            "checks": [c.to_document() for c in self.checks],
            "elapsed_seconds": round(self.elapsed_seconds, 6),
        }


@dataclass(frozen=True, slots=True)
class _RecordedSnapshot:
    sequence_number: int
    at_sequence: int
    state_hash: str
    document_hash: str  # the hash of the state document the snapshot carries
    event_id: UUID


@dataclass(slots=True)
class _SnapshotWatch:
    """Compares each recorded snapshot with the replayed state at its at_sequence."""

    snapshots: list[_RecordedSnapshot]
    failures: list[dict[str, Any]] = field(default_factory=list)
    matched: list[CheckedSnapshot] = field(default_factory=list)
    checked: int = 0

    def checkpoints(self, store: EventStore) -> dict[int, Checkpoint]:
        by_position: dict[int, list[_RecordedSnapshot]] = {}
        for snap in self.snapshots:
            by_position.setdefault(snap.at_sequence, []).append(snap)

        def make(group: list[_RecordedSnapshot]) -> Checkpoint:
            return lambda state: self._compare(store, group, state)

        return {at: make(group) for at, group in by_position.items()}

    def _compare(
        self, store: EventStore, group: list[_RecordedSnapshot], state: SystemState
    ) -> None:
        rebuilt = state.hash()
        for snap in group:
            self.checked += 1
            problems = []
            if snap.state_hash != rebuilt:
                problems.append("recorded state_hash differs from the replayed state's hash")
            if snap.document_hash != snap.state_hash:
                problems.append("the snapshot's state document does not hash to its state_hash")
            if problems:
                self.failures.append(_snapshot_failure(store, snap, state, rebuilt, problems))
            else:
                self.matched.append(
                    CheckedSnapshot(snap.event_id, snap.sequence_number, snap.at_sequence, rebuilt)
                )


def _snapshot_failure(
    store: EventStore,
    snap: _RecordedSnapshot,
    state: SystemState,
    rebuilt: str,
    problems: list[str],
) -> dict[str, Any]:
    event = store.get(snap.event_id)
    recorded_state = event.payload["state"] if event is not None else {}
    return {
        "sequence_number": snap.sequence_number,
        "at_sequence": snap.at_sequence,
        "recorded_hash": snap.state_hash,
        "replayed_hash": rebuilt,
        "problems": problems,
        "differences": state_diff(recorded_state, state.to_document(), "snapshot", "replay"),
    }


class Validator:
    def __init__(
        self,
        store: EventStore,
        *,
        pipeline: str | None = None,
        overrides: Mapping[str, str] | None = None,
        registry: PipelineRegistry | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: StageProgress | None = None,
    ) -> None:
        self.store = store
        self.pipeline_spec = pipeline
        self.overrides = dict(overrides or {})
        self.registry = registry
        self.engine = ReplayEngine(store, use_snapshots=False, batch_size=batch_size)
        self.batch_size = batch_size
        self.progress = progress

    def validate(self, first: int, last: int | None = None) -> ValidationReport:
        started = time.perf_counter()
        first, last = self.engine.resolve_sequence_range(first, last)
        # Build every part's pipeline first: a bad --pipeline or --set is found at once.
        plan = prepare(
            self.store,
            first,
            last,
            pipeline=self.pipeline_spec,
            overrides=self.overrides,
            registry=self.registry,
        )
        runnable = [p for p in plan.parts if p.pipeline is not None]

        watch = _SnapshotWatch(self._recorded_snapshots(first, last))
        checkpoints = watch.checkpoints(self.store)
        # Each part is re-executed from the state the log records just before it.
        starts: dict[int, SystemState] = {}
        for prepared in runnable:
            at = prepared.part.first - 1
            checkpoints[at] = _capture(starts, at, checkpoints.get(at))
        replay1 = self._replay("replay 1", first, last, checkpoints)
        replay2 = self._replay("replay 2", first, last, None)
        checks = [self._replay_check(replay1, replay2), self._snapshot_check(watch)]

        ignore = (CONFIG_HASH_FIELD,) if self.overrides else ()
        results: dict[int, ReexecutionResult] = {}
        done = 0
        for prepared in runnable:
            part = prepared.part
            assert prepared.pipeline is not None
            results[part.first] = reexecute(
                self.store,
                prepared.pipeline,
                part.first,
                part.last,
                starts[part.first - 1],
                ignore_fields=ignore,
                batch_size=self.batch_size,
                progress=self._stage("decisions", done, last - first + 1),
            )
            done += part.size
        checks.append(decision_check(plan, results))
        elapsed = time.perf_counter() - started
        return ValidationReport(
            first, last, checks, elapsed, plan.missing, matched_snapshots=watch.matched
        )

    def _replay(
        self, stage: str, first: int, last: int, checkpoints: dict[int, Checkpoint] | None
    ) -> ReplayResult:
        return self.engine.replay(
            first, last, use_snapshots=False, progress=self._stage(stage), checkpoints=checkpoints
        )

    def _stage(
        self, stage: str, offset: int = 0, overall: int | None = None
    ) -> Callable[[int, int], None] | None:
        """Progress of one stage; a part's progress counts from `offset` of `overall`."""
        progress = self.progress
        if progress is None:
            return None
        return lambda done, total: progress(stage, offset + done, overall or total)

    def _recorded_snapshots(self, first: int, last: int) -> list[_RecordedSnapshot]:
        found = []
        for event in self.store.read(first, last, event_types=[EventType.STATE_SNAPSHOT]):
            payload = event.payload
            found.append(
                _RecordedSnapshot(
                    event.sequence_number or 0,
                    int(payload["at_sequence"]),
                    str(payload["state_hash"]),
                    content_hash(payload["state"]),
                    event.event_id,
                )
            )
        return found

    @staticmethod
    def _replay_check(replay1: ReplayResult, replay2: ReplayResult) -> CheckResult:
        hash1, hash2 = replay1.state.hash(), replay2.state.hash()
        title = "Replay twice"
        if hash1 == hash2:
            return CheckResult(
                "replay_twice",
                title,
                True,
                f"two replays of {replay1.events_folded} events give equal states",
                {"state_hash": hash1, "events": replay1.events_folded},
            )
        differences = state_diff(replay1.state.to_document(), replay2.state.to_document())
        return CheckResult(
            "replay_twice",
            title,
            False,
            "the two replays give different states",
            {"replay1_hash": hash1, "replay2_hash": hash2, "differences": differences},
        )

    @staticmethod
    def _snapshot_check(watch: _SnapshotWatch) -> CheckResult:
        title = "Snapshots"
        total = len(watch.snapshots)
        if not total:
            return CheckResult("snapshots", title, True, "no snapshots recorded in the range")
        failed = watch.failures
        unchecked = total - watch.checked
        if unchecked:
            failed = [
                *failed,
                {"problems": [f"{unchecked} snapshot(s) name an at_sequence outside the log"]},
            ]
        if not failed:
            return CheckResult(
                "snapshots", title, True, f"{total} of {total} snapshots match the replayed state"
            )
        first = failed[0]
        summary = (
            f"{len(watch.failures)} of {total} snapshots do not match; first: the snapshot at "
            f"sequence {first.get('sequence_number')} (at_sequence {first.get('at_sequence')})"
            f" records {first.get('recorded_hash')}, the replay rebuilt "
            f"{first.get('replayed_hash')}"
        )
        return CheckResult("snapshots", title, False, summary, {"failures": failed})


def _capture(starts: dict[int, SystemState], at: int, then: Checkpoint | None) -> Checkpoint:
    def capture(state: SystemState) -> None:
        starts[at] = state.copy()
        if then is not None:
            then(state)

    return capture


def validate(
    store: EventStore,
    first: int,
    last: int | None = None,
    **options: Any,
) -> ValidationReport:
    """Run the three checks on first..last (see Validator for the options)."""
    return Validator(store, **options).validate(first, last)


__all__ = [
    "INCOMPLETE",
    "NO",
    "YES",
    "CheckResult",
    "StageProgress",
    "ValidationReport",
    "Validator",
    "validate",
]
