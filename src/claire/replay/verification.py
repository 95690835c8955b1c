"""Recording that a fold verified a snapshot: `claire validate --record-verification`.

`claire validate` is a read command and never writes. With `--record-verification` the user
asks it to append, for each snapshot whose hash its fold from the start rebuilt, one
`snapshot_verified` alert (see claire.state.snapshots for how replay and the recorder read
them). Why in the log and not in a file beside it: the record is then hash-chained like every
other event, travels with the store to every machine and every reader (replay on another host
sees it), and is as hard to forge as the snapshot it vouches for (the doors refuse both from
untrusted producers). It is appended under the recording lock, so it never lands in the middle
of a recording session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from claire import __version__
from claire.events.clock import LogicalClock
from claire.events.factory import EventFactory
from claire.events.model import BaseEvent
from claire.events.payloads import AlertLevel, EventType
from claire.state.snapshots import (
    SNAPSHOT_VERIFIED,
    VERIFICATION_CORRELATION,
    CheckedSnapshot,
    verification_records,
)
from claire.store.locks import recording_lock
from claire.store.port import EventStore

VERIFIER_SERVICE = "claire-validate"


@dataclass(frozen=True, slots=True)
class RecordedVerifications:
    recorded: list[int]  # sequence numbers of the snapshot_verified alerts appended
    already: int  # snapshots that had a record already

    def to_document(self) -> dict[str, object]:
        return {"recorded_sequences": self.recorded, "already_recorded": self.already}


def record_verifications(
    store: EventStore, snapshots: Sequence[CheckedSnapshot]
) -> RecordedVerifications:
    """Append a snapshot_verified alert for each snapshot that has none yet."""
    with recording_lock(store.url):
        known = verification_records(store)
        new = [s for s in snapshots if known.get(s.event_id) is None]
        if not new:
            return RecordedVerifications([], len(snapshots))
        head = store.head().sequence_number
        last = next(store.read(head, head))
        # Stamped with the head's time and after its logical time: the log stays in time order.
        factory = EventFactory(
            VERIFIER_SERVICE,
            __version__,
            clock=LogicalClock(last.timestamp_logical),
            now=lambda: last.timestamp_utc,
        )
        sequences = store.append([_record(factory, s) for s in new])
    return RecordedVerifications(sequences, len(snapshots) - len(new))


def _record(factory: EventFactory, snapshot: CheckedSnapshot) -> BaseEvent:
    return factory.create(
        EventType.ALERT,
        {
            "level": AlertLevel.INFO,
            "code": SNAPSHOT_VERIFIED,
            "message": (
                f"Snapshot at sequence {snapshot.sequence_number} (state as of sequence "
                f"{snapshot.at_sequence}) verified: a fold of the log from the start rebuilt "
                "its state hash"
            ),
            "context": {
                "snapshot_sequence": snapshot.sequence_number,
                "at_sequence": snapshot.at_sequence,
                "state_hash": snapshot.state_hash,
                "method": "claire validate: fold from sequence 1",
            },
        },
        correlation_id=VERIFICATION_CORRELATION,
        causation_id=snapshot.event_id,
    )


__all__ = ["VERIFIER_SERVICE", "RecordedVerifications", "record_verifications"]
