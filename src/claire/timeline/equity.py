"""The equity and drawdown curve of a time range.

The state at the range's start comes from the replay engine (snapshot + fold); then only what
moves equity is read: the account events (fills' fees, position updates, the session's start)
decoded, and the market data as undecoded prices that mark open positions. The peak and the
maximum drawdown are exact over every step; the points are at most `max_points` samples (the
state after each bucket of steps).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import decimal_to_str, format_utc
from claire.replay.engine import ReplayEngine
from claire.state.model import SystemState
from claire.store.port import BarRow, EventStore
from claire.timeline.moment import sequence_range
from claire.timeline.series import DEFAULT_MAX_POINTS
from claire.timeline.when import iso

ACCOUNT_EVENTS = (EventType.ORDER_RESULT, EventType.POSITION_UPDATE, EventType.ALERT)
PCT = Decimal("0.000001")
ZERO = Decimal(0)

Step = BarRow | BaseEvent
_EMPTY: dict[str, Any] = {
    "first_sequence": None,
    "last_sequence": None,
    "points": [],
    "starting_equity": None,
    "peak": None,
    "max_drawdown": None,
    "max_drawdown_pct": None,
}


def _steps(store: EventStore, first: int, last: int) -> list[Step]:
    bars = store.bars(None, first, last)
    account = store.find_events(event_types=ACCOUNT_EVENTS, from_sequence=first, to_sequence=last)
    merged: list[Step] = [*bars, *account]
    merged.sort(key=lambda s: s.sequence_number or 0)
    return merged


def _apply(state: SystemState, step: Step) -> None:
    if isinstance(step, BaseEvent):
        state.apply(step)
        return
    # The marking part of reduce_market_data, on the undecoded price (nothing else of a bar
    # moves equity).
    price = Decimal(step.price)
    state.last_prices[step.symbol] = price
    position = state.positions.get(step.symbol)
    if position is not None:
        position.mark(price)


def equity_curve(
    store: EventStore,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """The document of `GET /equity` (start inclusive, end exclusive)."""
    if max_points < 1:
        raise ValueError(f"max_points must be 1 or more, got {max_points}")
    bounds = sequence_range(store, start, end)
    document: dict[str, Any] = {"from": iso(start), "to": iso(end), "max_points": max_points}
    if bounds is None:
        return {**document, **_EMPTY}
    first, last = bounds
    state = ReplayEngine(store).state_at(first - 1).state
    steps = _steps(store, first, last)
    size = max(1, -(-len(steps) // max_points))
    opening: Decimal | None = None  # equity when the range (or its session) begins
    peak = worst = worst_pct = ZERO
    points: list[dict[str, Any]] = []
    for index, step in enumerate(steps, start=1):
        if opening is None and state.starting_equity is not None:
            opening = peak = state.equity + state.unrealized_pnl
        _apply(state, step)
        if opening is None:
            continue  # nothing to chart before the session says what it started with
        unrealized = state.unrealized_pnl
        total = state.equity + unrealized
        peak = max(peak, total)
        drawdown = total - peak
        pct = (drawdown / peak).quantize(PCT) if peak > 0 else ZERO
        if drawdown < worst:
            worst, worst_pct = drawdown, pct
        if index % size == 0 or index == len(steps):
            points.append(
                {
                    "time": format_utc(step.timestamp_utc),
                    "sequence_number": step.sequence_number,
                    "equity": decimal_to_str(state.equity),
                    "unrealized_pnl": decimal_to_str(unrealized),
                    "equity_with_unrealized": decimal_to_str(total),
                    "drawdown": decimal_to_str(drawdown),
                    "drawdown_pct": decimal_to_str(pct),
                }
            )
    if opening is None:
        return {**document, **_EMPTY}
    return {
        **document,
        "first_sequence": first,
        "last_sequence": last,
        "points": points,
        "starting_equity": decimal_to_str(opening),
        "peak": decimal_to_str(peak),
        "max_drawdown": decimal_to_str(worst),
        "max_drawdown_pct": decimal_to_str(worst_pct),
    }
