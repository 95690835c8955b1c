"""ReplayEngine: fold the stored log into a SystemState, from the nearest snapshot when allowed.

`replay(A, B)` rebuilds the state as of B: it starts from the latest `state_snapshot` whose
`at_sequence` is at or below A-1 (the first written for that point, and only if it describes
itself faithfully: see claire.state.snapshots, which also says whether it was ever verified
against a fold, and checks it first with `verify_snapshot`), or from an empty state, folds
the events up to A-1 that the snapshot does not cover, then folds A..B. Events are streamed
from the store in batches and never kept, so memory stays flat whatever the range. Everything
runs inside `ReplayMode`, with the virtual clock moved to each event's recorded time before it
is folded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from claire.errors import NotFoundError, StoreError
from claire.events.model import BaseEvent
from claire.events.values import format_utc
from claire.state.mode import ReplayMode
from claire.state.model import SystemState
from claire.state.snapshots import SnapshotUsed, StartingPoint, starting_point
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore

ProgressCallback = Callable[[int, int], None]
"""Called as progress(events_done, events_total) after each batch."""

Checkpoint = Callable[[SystemState], None]
"""Called with the state right after the event of a given sequence number was folded."""


@dataclass(slots=True)
class ReplayResult:
    """What a replay rebuilt and what it cost."""

    state: SystemState
    first_sequence: int
    last_sequence: int
    events_per_type: dict[str, int]
    events_folded: int  # the range plus any lead-in between the snapshot and the range
    snapshot: SnapshotUsed | None
    snapshots_enabled: bool
    elapsed_seconds: float
    blocked_calls: dict[str, int] = field(default_factory=dict)
    snapshot_rejected: str | None = None

    @property
    def events_in_range(self) -> int:
        return sum(self.events_per_type.values())

    @property
    def events_per_second(self) -> float:
        return self.events_folded / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def to_document(self) -> dict[str, Any]:
        state = self.state
        return {
            "range": {"from_sequence": self.first_sequence, "to_sequence": self.last_sequence},
            "events_in_range": self.events_in_range,
            "events_per_type": dict(sorted(self.events_per_type.items())),
            "events_folded": self.events_folded,
            "snapshots_enabled": self.snapshots_enabled,
            "snapshot_used": self.snapshot.to_document() if self.snapshot else None,
            "snapshot_rejected": self.snapshot_rejected,
            "risk_state": {k: _plain(v) for k, v in state.risk_state().items()},
            "positions": [p.to_document() for _, p in sorted(state.positions.items())],
            "open_orders": len(state.open_orders),
            "state_hash": state.hash(),
            "elapsed_seconds": round(self.elapsed_seconds, 6),
            "events_per_second": round(self.events_per_second, 1),
            "blocked_calls": dict(sorted(self.blocked_calls.items())),
        }


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | str) else str(value)


class ReplayEngine:
    """Rebuilds `SystemState` from an `EventStore`."""

    def __init__(
        self,
        store: EventStore,
        *,
        use_snapshots: bool = True,
        verify_snapshot: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
        self.store = store
        self.use_snapshots = use_snapshots
        # Check a snapshot nobody verified by folding from the newest verified point first.
        self.verify_snapshot = verify_snapshot
        self.batch_size = batch_size

    # --- public calls ------------------------------------------------------------------------
    def replay(
        self,
        first: int = 1,
        last: int | None = None,
        *,
        use_snapshots: bool | None = None,
        progress: ProgressCallback | None = None,
        checkpoints: Mapping[int, Checkpoint] | None = None,
    ) -> ReplayResult:
        """Rebuild the state as of `last` (default: the head), replaying `first..last`."""
        first, last = self.resolve_sequence_range(first, last)
        snapshots = self.use_snapshots if use_snapshots is None else use_snapshots
        return self._run(
            first=first,
            last=last,
            snapshot_bound=first - 1,
            use_snapshots=snapshots,
            progress=progress,
            checkpoints=checkpoints,
        )

    def state_at(
        self,
        sequence: int,
        *,
        use_snapshots: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> ReplayResult:
        """The state as of `sequence`: from the latest snapshot at or below it, plus the delta."""
        head = self.store.head().sequence_number
        if sequence < 0:
            raise StoreError(f"sequence must be 0 or more, got {sequence}")
        if sequence > head:
            raise NotFoundError(f"sequence {sequence} is beyond the last stored event ({head})")
        snapshots = self.use_snapshots if use_snapshots is None else use_snapshots
        return self._run(
            first=1,
            last=sequence,
            snapshot_bound=sequence,
            use_snapshots=snapshots,
            progress=progress,
            checkpoints=None,
        )

    def replay_time(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        use_snapshots: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> ReplayResult:
        """Replay the events recorded in start <= timestamp_utc < end (see `resolve_time_range`)."""
        first, last = self.resolve_time_range(start, end)
        return self.replay(first, last, use_snapshots=use_snapshots, progress=progress)

    def state_at_time(self, when: datetime, *, use_snapshots: bool | None = None) -> ReplayResult:
        """The state just before the first event recorded at or after `when`."""
        after = self._first_sequence_at_or_after(when)
        last = (after - 1) if after is not None else self.store.head().sequence_number
        return self.state_at(last, use_snapshots=use_snapshots)

    # --- ranges ------------------------------------------------------------------------------
    def resolve_sequence_range(self, first: int, last: int | None) -> tuple[int, int]:
        """Check a sequence range against the log; an end beyond the head is cut to the head."""
        if first < 1:
            raise StoreError(f"from_sequence must be 1 or more, got {first}")
        if last is not None and last < first:
            raise StoreError(f"empty range: to_sequence {last} < from_sequence {first}")
        head = self.store.head().sequence_number
        if head == 0:
            raise NotFoundError("the event store is empty: nothing to replay")
        if first > head:
            raise NotFoundError(f"no events from sequence {first}: the log ends at sequence {head}")
        return first, head if last is None else min(last, head)

    def resolve_time_range(self, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        """The sequence range A..B recorded in [start, end).

        A is the first event at or after `start`; B is the event just before the first one at or
        after `end`. The fold is always contiguous in sequence order: skipping an event whose
        human timestamp is out of line would corrupt the rebuilt state.
        """
        first_event = _first_of(self.store.read_time_range(start, end, batch_size=1))
        if first_event is None or first_event.sequence_number is None:
            raise NotFoundError(f"no events recorded between {_when(start)} and {_when(end)}")
        after = self._first_sequence_at_or_after(end) if end is not None else None
        last = (after - 1) if after is not None else self.store.head().sequence_number
        return first_event.sequence_number, max(first_event.sequence_number, last)

    def _first_sequence_at_or_after(self, when: datetime | None) -> int | None:
        event = _first_of(self.store.read_time_range(when, None, batch_size=1))
        return event.sequence_number if event is not None else None

    # --- the fold ----------------------------------------------------------------------------
    def starting_point(
        self, at_or_below: int, use_snapshots: bool, *, verify: bool = False
    ) -> StartingPoint:
        """The pipeline's snapshot state at or below a sequence, or an empty state (see
        claire.state.snapshots: first written wins, verified or not, checked if `verify`)."""
        if not use_snapshots:
            return StartingPoint(SystemState(), None)
        return starting_point(self.store, at_or_below, verify=verify or self.verify_snapshot)

    def _run(
        self,
        *,
        first: int,
        last: int,
        snapshot_bound: int,
        use_snapshots: bool,
        progress: ProgressCallback | None,
        checkpoints: Mapping[int, Checkpoint] | None,
    ) -> ReplayResult:
        started = time.perf_counter()
        start = self.starting_point(snapshot_bound, use_snapshots)
        state = start.state
        fold_from = state.last_sequence + 1
        total = max(0, last - fold_from + 1)
        done = 0
        with ReplayMode() as mode:
            if checkpoints and 0 in checkpoints and fold_from == 1:
                checkpoints[0](state)
            lead_in_end = min(first - 1, last)
            if fold_from <= lead_in_end:
                done = self.fold(
                    state,
                    fold_from,
                    lead_in_end,
                    mode,
                    progress=progress,
                    total=total,
                    checkpoints=checkpoints,
                )
            before = dict(state.counters)
            range_from = max(first, fold_from)
            if range_from <= last:
                done += self.fold(
                    state,
                    range_from,
                    last,
                    mode,
                    progress=progress,
                    total=total,
                    checkpoints=checkpoints,
                    already_done=done,
                )
        per_type = {
            kind: count - before.get(kind, 0)
            for kind, count in sorted(state.counters.items())
            if count != before.get(kind, 0)
        }
        return ReplayResult(
            state=state,
            first_sequence=first,
            last_sequence=last,
            events_per_type=per_type,
            events_folded=start.folded + done,
            snapshot=start.snapshot,
            snapshots_enabled=use_snapshots,
            elapsed_seconds=time.perf_counter() - started,
            blocked_calls=dict(mode.blocked),
            snapshot_rejected=start.rejected,
        )

    def fold(
        self,
        state: SystemState,
        first: int,
        last: int,
        mode: ReplayMode,
        *,
        progress: ProgressCallback | None = None,
        total: int = 0,
        checkpoints: Mapping[int, Checkpoint] | None = None,
        already_done: int = 0,
    ) -> int:
        """Fold events first..last into `state`; return how many were folded."""
        count = 0
        batch = self.batch_size
        apply = state.apply
        advance = mode.advance
        for event in self.events(first, last):
            advance(event.timestamp_utc)
            apply(event)
            count += 1
            if checkpoints and event.sequence_number in checkpoints:
                checkpoints[state.last_sequence](state)
            if progress is not None and count % batch == 0:
                progress(already_done + count, total)
        if progress is not None:
            progress(already_done + count, total)
        return count

    def events(self, first: int, last: int) -> Iterator[BaseEvent]:
        """The stored events first..last, streamed in batches (the store reads the next ahead)."""
        return self.store.read(first, last, batch_size=self.batch_size)


def _first_of(events: Iterator[BaseEvent]) -> BaseEvent | None:
    """The first event of a stream, releasing the stream's cursor at once."""
    try:
        return next(events, None)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _when(moment: datetime | None) -> str:
    return format_utc(moment) if moment is not None else "(open)"


__all__ = [
    "Checkpoint",
    "ProgressCallback",
    "ReplayEngine",
    "ReplayResult",
    "SnapshotUsed",
    "StartingPoint",
]
