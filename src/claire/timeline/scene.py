"""The scene: the whole bot as of a moment, and the events around that moment.

The state comes from the replay engine: the nearest recorded snapshot at or below the moment
plus a fold of the events after it (never a replay from the start). `claire scene --json` and
`GET /scene` return the same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from claire.audit.vouch import verdicts
from claire.events.model import BaseEvent
from claire.events.values import decimal_to_str, format_utc
from claire.replay.engine import ReplayEngine, ReplayResult
from claire.state.model import SystemState
from claire.store.port import EventStore
from claire.timeline.lines import Verdicts, event_line, position_document
from claire.timeline.moment import Moment, require_symbol, resolve_moment
from claire.timeline.when import TIMEZONE, iso

EVENTS_BEFORE = 10
EVENTS_AFTER = 5


def state_document(state: SystemState) -> dict[str, Any]:
    """The account as people read it: equity, PnL, exposure, positions, orders, prices."""
    return {
        "equity": decimal_to_str(state.equity),
        "daily_pnl": decimal_to_str(state.daily_pnl),
        "day": state.day,
        "exposure": decimal_to_str(state.exposure),
        "total_exposure_pct": decimal_to_str(state.total_exposure_pct),
        "unrealized_pnl": decimal_to_str(state.unrealized_pnl),
        "fees_paid": decimal_to_str(state.fees_paid),
        "starting_equity": (
            decimal_to_str(state.starting_equity) if state.starting_equity is not None else None
        ),
        "positions": [
            position_document(p, state.last_prices.get(p.symbol))
            for _, p in sorted(state.positions.items())
        ],
        "open_orders": [o.to_document() for _, o in sorted(state.open_orders.items())],
        "last_prices": {k: decimal_to_str(v) for k, v in sorted(state.last_prices.items())},
    }


@dataclass(slots=True)
class Scene:
    moment: Moment
    symbol: str | None
    replay: ReplayResult
    before: list[BaseEvent]  # oldest first, the moment's own event last
    after: list[BaseEvent]
    checked: Verdicts  # the chain's verdict on every event shown, and on the snapshot

    @property
    def state(self) -> SystemState:
        return self.replay.state

    def to_document(self) -> dict[str, Any]:
        snapshot = self.replay.snapshot
        used: dict[str, Any] | None = None
        if snapshot is not None:
            chain = self.checked.get(snapshot.sequence_number)
            # As replay reports name it: the snapshot's own fields are about its state; what
            # the chain says of the stored event goes under `chain`.
            used = {**snapshot.to_document(), "chain": chain.to_document() if chain else None}
        return {
            "at": iso(self.moment.at),
            "timezone": TIMEZONE,
            "as_of_sequence": self.moment.sequence,
            "as_of_time": format_utc(self.moment.event.timestamp_utc),
            "symbol": self.symbol,
            "state": state_document(self.state),
            "snapshot": used,
            "snapshot_rejected": self.replay.snapshot_rejected,
            "events_folded": self.replay.events_folded,
            "before": [event_line(e, self.checked) for e in self.before],
            "after": [event_line(e, self.checked) for e in self.after],
        }


def build_scene(
    store: EventStore,
    *,
    at: datetime | None = None,
    sequence: int | None = None,
    symbol: str | None = None,
    before: int = EVENTS_BEFORE,
    after: int = EVENTS_AFTER,
) -> Scene:
    """The scene as of `at` (or `sequence`); with `symbol`, the event lists are that symbol's
    (the state stays the whole bot's)."""
    moment = resolve_moment(store, at, sequence)
    last = moment.sequence
    replay = ReplayEngine(store).state_at(last)
    if symbol is None:
        earlier = list(store.read(max(1, last - before + 1), last)) if before else []
        later = list(store.read(last + 1, last + after)) if after else []
    else:
        earlier = store.find_events(
            symbol=symbol, to_sequence=last, limit=before, newest_first=True
        )
        earlier.reverse()
        later = store.find_events(symbol=symbol, from_sequence=last + 1, limit=after)
        if not earlier and not later:
            require_symbol(store, symbol)
    shown: list[int] = [e.sequence_number or 0 for e in (*earlier, *later)]
    if replay.snapshot is not None:
        shown.append(replay.snapshot.sequence_number)
    return Scene(moment, symbol, replay, earlier, later, verdicts(store, shown))


__all__ = ["EVENTS_AFTER", "EVENTS_BEFORE", "Scene", "build_scene", "state_document"]
