"""Paging through the log for the event table and for stepping the time cursor.

Around a sequence: up to `before` events before it, the event itself (when it passes the
filters) and up to `after` after it. From a sequence: up to `limit` events from it on. Filters:
one symbol (see store.port.event_symbol) and/or event types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claire.events.payloads import EventType
from claire.store.port import EventStore
from claire.timeline.lines import check, event_line


def around(
    store: EventStore,
    sequence: int,
    *,
    before: int = 20,
    after: int = 20,
    symbol: str | None = None,
    types: Sequence[EventType] | None = None,
) -> dict[str, Any]:
    earlier = (
        store.find_events(
            symbol=symbol,
            event_types=types,
            to_sequence=sequence - 1,
            limit=before + 1,
            newest_first=True,
        )
        if sequence > 1
        else []
    )
    later = store.find_events(
        symbol=symbol, event_types=types, from_sequence=sequence, limit=after + 2
    )
    centre = later[:1] if later and later[0].sequence_number == sequence else []
    rest = later[len(centre) :]
    shown = [*reversed(earlier[:before]), *centre, *rest[:after]]
    checked = check(store, shown)
    return {
        "around": sequence,
        "events": [event_line(e, checked) for e in shown],
        "has_more_before": len(earlier) > before,
        "has_more_after": len(rest) > after,
    }


def page(
    store: EventStore,
    from_sequence: int,
    *,
    limit: int = 100,
    symbol: str | None = None,
    types: Sequence[EventType] | None = None,
) -> dict[str, Any]:
    found = store.find_events(
        symbol=symbol, event_types=types, from_sequence=from_sequence, limit=limit + 1
    )
    earlier = from_sequence > 1 and bool(
        store.find_events(
            symbol=symbol,
            event_types=types,
            to_sequence=from_sequence - 1,
            limit=1,
            newest_first=True,
        )
    )
    shown = found[:limit]
    checked = check(store, shown)
    return {
        "around": None,
        "events": [event_line(e, checked) for e in shown],
        "has_more_before": earlier,
        "has_more_after": len(found) > limit,
    }
