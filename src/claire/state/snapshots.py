"""Which recorded snapshot a fold may start from, and whether anyone checked it against a fold.

A `state_snapshot` saves folding the log from the start, but it is only as good as whoever
wrote it. Replay and the recorder therefore:

1. use only the snapshot the pipeline wrote for a point: `EventStore.latest_snapshot` returns
   the first one written for the highest `at_sequence` (never a later row for the same point),
   and never one whose `at_sequence` is not before its own position;
2. refuse one that does not describe itself faithfully (its state ends elsewhere than its
   `at_sequence`, or does not hash to its `state_hash`) and fold from the start instead;
3. say whether it was ever verified against a fold. `claire validate --record-verification`
   appends a `snapshot_verified` alert for each snapshot whose hash it rebuilt by folding
   (causation_id = the snapshot, one correlation id for all such records, so one indexed read
   finds them); that record is what "verified" means here;
4. on request (`verify=True`, the CLI's `--verify-snapshot`) check an unverified snapshot
   before use: fold from the newest verified point before it (or from the start) up to its
   `at_sequence` and compare hashes. A mismatch is reported and the folded state is used.

The doors (POST /events, the Redis stream) refuse snapshots and verification records from
producers that are not trusted (claire.ingest.admission), so both come from the pipeline or
from a service an operator named.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.state.mode import ReplayMode
from claire.state.model import SystemState
from claire.store.port import EventStore

SNAPSHOT_VERIFIED = "snapshot_verified"
# Every verification record carries this correlation id (fixed forever).
VERIFICATION_CORRELATION = uuid.uuid5(uuid.NAMESPACE_URL, "claire:snapshot-verification")


@dataclass(frozen=True, slots=True)
class SnapshotUsed:
    """The recorded snapshot a fold started from, and how far it is vouched for."""

    sequence_number: int  # where the snapshot event itself is stored
    at_sequence: int  # the log position its state describes
    verified_by: int | None = None  # the sequence of a snapshot_verified record naming it
    checked_from: int | None = None  # this run folded from here (0: the start) and it matched

    @property
    def verified(self) -> bool:
        return self.verified_by is not None or self.checked_from is not None

    def status(self) -> str:
        if self.verified_by is not None:
            return f"verified (record at sequence {self.verified_by})"
        if self.checked_from is not None:
            return f"verified now (folded from sequence {self.checked_from} and compared)"
        return "not yet verified"

    def to_document(self) -> dict[str, Any]:
        return {
            "sequence_number": self.sequence_number,
            "at_sequence": self.at_sequence,
            "verified": self.verified,
            "verified_by_sequence": self.verified_by,
            "checked_from_sequence": self.checked_from,
        }


@dataclass(frozen=True, slots=True)
class StartingPoint:
    """The state a fold starts from (as of `state.last_sequence`), and where it came from."""

    state: SystemState
    snapshot: SnapshotUsed | None
    rejected: str | None = None  # why the chosen snapshot was not used
    folded: int = 0  # events folded to check the snapshot (verify=True)


@dataclass(frozen=True, slots=True)
class CheckedSnapshot:
    """A snapshot whose state hash a fold rebuilt (what a verification record records)."""

    event_id: UUID
    sequence_number: int
    at_sequence: int
    state_hash: str


@dataclass(frozen=True, slots=True)
class VerificationRecord:
    sequence_number: int  # of the snapshot_verified alert
    snapshot_id: UUID
    at_sequence: int
    state_hash: str


def verification_records(store: EventStore) -> dict[UUID, VerificationRecord]:
    """The first record for each verified snapshot, by the snapshot's event id."""
    found: dict[UUID, VerificationRecord] = {}
    for event in store.read(correlation_id=VERIFICATION_CORRELATION, event_types=[EventType.ALERT]):
        payload, cause = event.payload, event.causation_id
        if payload.get("code") != SNAPSHOT_VERIFIED or cause is None or cause in found:
            continue
        context = payload.get("context") or {}
        try:
            found[cause] = VerificationRecord(
                event.sequence_number or 0,
                cause,
                int(context["at_sequence"]),
                str(context["state_hash"]),
            )
        except (KeyError, TypeError, ValueError):
            continue  # not a record this code wrote: vouches for nothing
    return found


def snapshot_problem(event: BaseEvent) -> str | None:
    """Why a snapshot does not describe itself faithfully, or None."""
    payload = event.payload
    at, own = int(payload["at_sequence"]), event.sequence_number
    if own is not None and at >= own:
        return f"snapshot at sequence {own} says at_sequence {at}, which is not before it"
    try:
        state = SystemState.from_document(payload["state"])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        # A trusted service may still send a state this code never wrote: fold without it.
        return f"snapshot at sequence {own}: its state is not a state document ({exc!r})"
    if state.last_sequence != at:
        return (
            f"snapshot at sequence {own} says at_sequence {at} "
            f"but its state ends at {state.last_sequence}"
        )
    rebuilt = state.hash()
    if rebuilt != payload["state_hash"]:
        return (
            f"snapshot at sequence {own}: its state hashes to {rebuilt}, "
            f"not the recorded {payload['state_hash']}"
        )
    return None


def starting_point(store: EventStore, at_or_below: int, *, verify: bool = False) -> StartingPoint:
    """The state to fold on from: the pipeline's snapshot at or below a sequence, or empty."""
    if at_or_below < 1:
        return StartingPoint(SystemState(), None)
    event = store.latest_snapshot(at_or_below)
    if event is None or event.sequence_number is None:
        return StartingPoint(SystemState(), None)
    payload = event.payload
    used = SnapshotUsed(event.sequence_number, int(payload["at_sequence"]))
    problem = snapshot_problem(event)
    if problem is not None:
        # Never trusted: fold from the start instead, and say why (validation names such
        # snapshots as failures).
        return StartingPoint(SystemState(), None, problem)
    records = verification_records(store)
    record = records.get(event.event_id)
    if record is not None and record.state_hash == payload["state_hash"]:
        used = SnapshotUsed(
            used.sequence_number, used.at_sequence, verified_by=record.sequence_number
        )
    elif verify:
        return _checked(store, event, used, records)
    return StartingPoint(SystemState.from_document(payload["state"]), used)


def _checked(
    store: EventStore,
    event: BaseEvent,
    used: SnapshotUsed,
    records: dict[UUID, VerificationRecord],
) -> StartingPoint:
    """Fold from the newest verified point before the snapshot and compare."""
    state, base = _verified_base(store, used.at_sequence, records)
    start = state.last_sequence
    folded = fold(store, state, start + 1, used.at_sequence)
    recorded = event.payload["state_hash"]
    if state.hash() == recorded:
        checked = SnapshotUsed(used.sequence_number, used.at_sequence, checked_from=start)
        return StartingPoint(state, checked, folded=folded)
    problem = (
        f"snapshot at sequence {used.sequence_number} (state as of {used.at_sequence}) does not "
        f"match the fold from sequence {start}: it records {recorded}, the fold gives "
        f"{state.hash()}; the folded state is used"
    )
    return StartingPoint(state, base, problem, folded)


def _verified_base(
    store: EventStore, before: int, records: dict[UUID, VerificationRecord]
) -> tuple[SystemState, SnapshotUsed | None]:
    """The state of the newest verified snapshot describing a point before `before`."""
    for record in sorted(records.values(), key=lambda r: -r.at_sequence):
        if record.at_sequence >= before:
            continue
        event = store.get(record.snapshot_id)
        if (
            event is None
            or event.event_type is not EventType.STATE_SNAPSHOT
            or event.sequence_number is None
            or event.payload.get("state_hash") != record.state_hash
            or snapshot_problem(event) is not None
        ):
            continue
        used = SnapshotUsed(event.sequence_number, record.at_sequence, record.sequence_number)
        return SystemState.from_document(event.payload["state"]), used
    return SystemState(), None


def fold(store: EventStore, state: SystemState, first: int, last: int) -> int:
    """Fold events first..last into `state` (in ReplayMode); return how many."""
    count = 0
    if first > last:
        return count
    with ReplayMode() as mode:
        for event in store.read(first, last):
            mode.advance(event.timestamp_utc)
            state.apply(event)
            count += 1
    return count


__all__ = [
    "SNAPSHOT_VERIFIED",
    "VERIFICATION_CORRELATION",
    "CheckedSnapshot",
    "SnapshotUsed",
    "StartingPoint",
    "VerificationRecord",
    "fold",
    "snapshot_problem",
    "starting_point",
    "verification_records",
]
