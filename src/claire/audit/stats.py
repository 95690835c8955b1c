"""Event statistics per type: count, first and last event, over a window of recorded time.

The default window is the 24 hours up to the newest stored event's `timestamp_utc`, not up to
the wall clock: a recorded session stays explainable the day after, and the answer does not
depend on when the question is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from claire.events.payloads import EventType
from claire.events.values import format_utc, shifted
from claire.store.port import EventStore, TypeStats

DEFAULT_WINDOW = timedelta(hours=24)
_ONE_MICROSECOND = timedelta(microseconds=1)


class WindowBasis(StrEnum):
    RECORDED_24H = "last_24h_of_recorded_time"
    EXPLICIT = "explicit"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class EventStats:
    basis: WindowBasis
    since: datetime | None  # inclusive
    until: datetime | None  # exclusive
    rows: list[TypeStats]

    @property
    def total(self) -> int:
        return sum(row.count for row in self.rows)

    @property
    def title(self) -> str:
        if self.basis is WindowBasis.RECORDED_24H:
            return "Last 24 hours"
        if self.basis is WindowBasis.ALL:
            return "All events"
        since = format_utc(self.since) if self.since else "beginning"
        until = format_utc(self.until) if self.until else "end"
        return f"{since} to {until}"

    def to_document(self) -> dict[str, Any]:
        return {
            "window": {
                "basis": self.basis.value,
                "since": format_utc(self.since) if self.since else None,
                "until": format_utc(self.until) if self.until else None,
            },
            "total": self.total,
            "event_types": [
                {
                    "event_type": row.event_type,
                    "count": row.count,
                    "first_event": format_utc(row.first),
                    "last_event": format_utc(row.last),
                }
                for row in self.rows
            ],
        }


_PIPELINE_ORDER = {kind.value: index for index, kind in enumerate(EventType)}


def _in_pipeline_order(rows: list[TypeStats]) -> list[TypeStats]:
    """Rows as the seed lists them: market data first, then along the pipeline."""
    return sorted(
        rows, key=lambda r: (_PIPELINE_ORDER.get(r.event_type, len(_PIPELINE_ORDER)), r.event_type)
    )


def newest_timestamp(store: EventStore) -> datetime | None:
    """The timestamp of the newest stored event (the head), or None for an empty log."""
    head = store.head()
    if head.sequence_number == 0:
        return None
    newest = next(store.read(head.sequence_number, head.sequence_number), None)
    return newest.timestamp_utc if newest else None


def event_stats(
    store: EventStore,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    all_events: bool = False,
) -> EventStats:
    """Statistics for since <= t < until; with neither bound (and not `all_events`), the
    24 hours of recorded time ending at the newest event, that event included."""
    if all_events:
        return EventStats(WindowBasis.ALL, None, None, _in_pipeline_order(store.stats()))
    if since is not None or until is not None:
        return EventStats(
            WindowBasis.EXPLICIT, since, until, _in_pipeline_order(store.stats(since, until))
        )
    newest = newest_timestamp(store)
    if newest is None:
        return EventStats(WindowBasis.RECORDED_24H, None, None, [])
    end = shifted(newest, _ONE_MICROSECOND)  # None: the newest is the last representable µs
    start = shifted(newest, -DEFAULT_WINDOW)
    return EventStats(
        WindowBasis.RECORDED_24H, start, end, _in_pipeline_order(store.stats(start, end))
    )
