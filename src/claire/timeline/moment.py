"""From what a person asks ("at 13:05", "at sequence 1555", "BTCUSDT") to positions in the log.

"As of TIME" is a prefix of the log: every event up to the one before the first event, in
sequence order, stamped after TIME (`EventStore.sequence_at`). An event stamped exactly at
TIME is part of it. Sequence order is the truth; timestamps are for people.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from claire.errors import NotFoundError, StoreError
from claire.events.model import BaseEvent
from claire.store.port import EventStore
from claire.timeline.when import human

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Moment:
    """A point in the log: the time asked (None when asked by sequence) and the last event
    as of it."""

    at: datetime | None
    event: BaseEvent

    @property
    def sequence(self) -> int:
        assert self.event.sequence_number is not None
        return self.event.sequence_number


def resolve_moment(store: EventStore, at: datetime | None, sequence: int | None) -> Moment:
    """The last event as of `at`, or the event at `sequence`; NotFoundError when there is none."""
    if (at is None) == (sequence is None):
        raise StoreError("give a time or a sequence number, not both and not neither")
    found = store.sequence_at(at) if at is not None else sequence
    event = next(iter(store.read(found, found)), None) if found else None
    if event is not None:
        return Moment(at, event)
    # Nothing there: say why (these reads happen on this path only).
    head = store.head().sequence_number
    if head == 0:
        raise NotFoundError("the event store is empty: record something first (claire demo)")
    if at is None:
        raise NotFoundError(f"no event at sequence {sequence}: the log holds 1 → {head}")
    raise NotFoundError(
        f"nothing recorded at or before {human(at)}: the log starts at "
        f"{human(event_at(store, 1).timestamp_utc)} (sequence 1)"
    )


def event_at(store: EventStore, sequence: int) -> BaseEvent:
    found = next(iter(store.read(sequence, sequence)), None)
    if found is None:
        raise NotFoundError(f"no event at sequence {sequence}")
    return found


Bounds = tuple[int, int] | None  # first..last (both inclusive), None for an empty range


class Unknown(enum.Enum):
    """Bounds not computed yet (None means an empty range)."""

    UNKNOWN = enum.auto()


UNKNOWN = Unknown.UNKNOWN


def sequence_range(store: EventStore, start: datetime | None, end: datetime | None) -> Bounds:
    """The contiguous sequence range of start <= time < end (None: open), or None if empty."""
    first = 1
    if start is not None and start > datetime.min.replace(tzinfo=start.tzinfo):
        first = store.sequence_at(start - _ONE_MICROSECOND) + 1
    if end is None:
        last = store.head().sequence_number
    elif end > datetime.min.replace(tzinfo=end.tzinfo):
        last = store.sequence_at(end - _ONE_MICROSECOND)
    else:
        last = 0
    return (first, last) if first <= last else None


def require_symbol(store: EventStore, symbol: str) -> None:
    """NotFoundError naming the symbols that exist, unless some event is about `symbol`.

    Callers ask it only when their own queries found nothing for the symbol (a round trip
    saved on every answer that has data)."""
    if store.find_events(symbol=symbol, limit=1):
        return
    known = [s.symbol for s in store.symbol_stats()]
    listing = ", ".join(known) if known else "none (the log holds no market data)"
    raise NotFoundError(f"unknown symbol {symbol!r}: the symbols in the log are {listing}")
