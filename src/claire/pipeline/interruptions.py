"""Finding a session that never finished (its recorder was killed, the machine lost power).

Every session the recorder finishes ends with a `session_finished` alert followed by a snapshot
whose `at_sequence` is that alert's sequence. So only the alerts from the newest recorder
snapshot's `at_sequence` to the head can tell whether the last session finished: a short read
(a few thousand events at most), not a scan of the log. Without such a snapshot the whole log
is read (it is then short, or was not written by the recorder).

A session that started and has neither a `session_finished` nor a `session_interrupted` note is
interrupted; the next recording notes it (see SessionRecorder) before writing anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from claire.events.payloads import EventType
from claire.state.model import SESSION_STARTED
from claire.store.port import EventStore

SESSION_FINISHED = "session_finished"
SESSION_INTERRUPTED = "session_interrupted"
RECORDER_SERVICE = "claire-recorder"
# Either ends a session for good; both carry the session's id as correlation id.
ENDINGS = (SESSION_FINISHED, SESSION_INTERRUPTED)


@dataclass(frozen=True, slots=True)
class InterruptedSession:
    """A session without an end: which one, where it started, where the log stops."""

    session_id: UUID
    started_at: int | None  # the sequence of its session_started alert
    last_sequence: int  # the log's last event when found: nothing of the session lies beyond
    noted_at: int | None = None  # the sequence of the alert that records the interruption

    def context(self) -> dict[str, Any]:
        return {
            "session_id": str(self.session_id),
            "started_at_sequence": self.started_at,
            "last_sequence": self.last_sequence,
        }

    def describe(self) -> str:
        start = f"started at sequence {self.started_at}, " if self.started_at else ""
        return (
            f"Session {self.session_id} ({start}last event at sequence {self.last_sequence}) "
            "was interrupted: it has no session_finished"
        )

    def to_document(self) -> dict[str, Any]:
        return {**self.context(), "noted_at_sequence": self.noted_at}


def find_interrupted(store: EventStore) -> InterruptedSession | None:
    """The last session of the log if it started and never finished (nor was noted)."""
    head = store.head().sequence_number
    if head == 0:
        return None
    open_session: UUID | None = None
    started_at: int | None = None
    start = 1
    snapshot = store.latest_snapshot(head)
    if snapshot is not None and snapshot.metadata.service == RECORDER_SERVICE:
        # The recorder's snapshots carry their session's id as correlation id.
        open_session, start = snapshot.correlation_id, int(snapshot.payload["at_sequence"])
    for alert in store.read(start, head, event_types=[EventType.ALERT]):
        code = alert.payload.get("code")
        if code == SESSION_STARTED:
            open_session, started_at = alert.correlation_id, alert.sequence_number
        elif code in ENDINGS and alert.correlation_id == open_session:
            open_session = None
    if open_session is None:
        return None
    if started_at is None:
        started_at = _started_at(store, open_session)
    return InterruptedSession(open_session, started_at, head)


def _started_at(store: EventStore, session_id: UUID) -> int | None:
    """The session_started alert of a session that began before the snapshot read from."""
    for alert in store.read(correlation_id=session_id, event_types=[EventType.ALERT], limit=10):
        if alert.payload.get("code") == SESSION_STARTED:
            return alert.sequence_number
    return None


__all__ = [
    "RECORDER_SERVICE",
    "SESSION_FINISHED",
    "SESSION_INTERRUPTED",
    "InterruptedSession",
    "find_interrupted",
]
