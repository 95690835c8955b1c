"""What the doors refuse from outside: snapshots and verification records of untrusted producers.

A `state_snapshot` is where replay and the recorder start folding; a `snapshot_verified` alert
says one was checked. Both are written by the pipeline itself (the recorder, `claire validate
--record-verification`), straight into the store. Through POST /events and the Redis stream
they are accepted only from services an operator names in CLAIRE_TRUSTED_SNAPSHOT_SERVICES
(comma-separated `metadata.service` values; empty by default, so nobody). Anyone holding the
write token can claim a service name, so name one only if every holder of that token may
write snapshots; even then replay uses only the first snapshot written for a point and says
whether it was verified (claire.state.snapshots).

The one check both doors call: `refuse_untrusted(events, trusted)` (api.routes.post_events
and the ingest worker's validation).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from claire.errors import EventValidationError
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.state.snapshots import SNAPSHOT_VERIFIED

TRUSTED_SETTING = "CLAIRE_TRUSTED_SNAPSHOT_SERVICES"


class UntrustedEventError(EventValidationError):
    """A snapshot or verification record from a producer nobody trusted."""


def trusted_services(setting: str | None) -> frozenset[str]:
    """The service names a comma-separated setting lists (blanks ignored)."""
    return frozenset(name.strip() for name in (setting or "").split(",") if name.strip())


def refuse_untrusted(events: Sequence[BaseEvent], trusted: Collection[str]) -> None:
    """Raise UntrustedEventError naming each event only the pipeline may write."""
    problems = []
    for index, event in enumerate(events):
        what = _pipeline_only(event)
        if what is None or event.metadata.service in trusted:
            continue
        field = f"events[{index}].metadata.service" if len(events) > 1 else "metadata.service"
        problems.append(
            (
                field,
                f"service {event.metadata.service!r} may not send {what}: they are written by "
                f"the recording pipeline; {TRUSTED_SETTING} names the services trusted to",
            )
        )
    if problems:
        raise UntrustedEventError(problems)


def _pipeline_only(event: BaseEvent) -> str | None:
    if event.event_type is EventType.STATE_SNAPSHOT:
        return "state_snapshot events"
    if event.event_type is EventType.ALERT and event.payload.get("code") == SNAPSHOT_VERIFIED:
        return "snapshot_verified alerts"
    return None


__all__ = ["TRUSTED_SETTING", "UntrustedEventError", "refuse_untrusted", "trusted_services"]
