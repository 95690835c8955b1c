"""The equity and drawdown curve of a range.

`EquityCurve` watches a state being folded step by step: the peak and the maximum drawdown are
exact over every step, and the points are at most `max_points` samples, one per equal slice of
the sequence range (the state after the last step in the slice). The same curve charts the
recorded log (`equity_curve`) and a what-if run (claire.timeline.whatif).

For the recorded log the state at the range's start comes from the replay engine (snapshot +
fold); then only what moves equity is read: the account events (fills' fees, position updates,
the session's start) decoded, and the market data as undecoded prices that mark open positions.
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
from claire.timeline.moment import UNKNOWN, Bounds, Unknown, sequence_range
from claire.timeline.series import DEFAULT_MAX_POINTS
from claire.timeline.when import iso

ACCOUNT_EVENTS = (EventType.ORDER_RESULT, EventType.POSITION_UPDATE, EventType.ALERT)
PCT = Decimal("0.000001")
ZERO = Decimal(0)

Step = BarRow | BaseEvent


class EquityCurve:
    """Equity (realised, with unrealised) and drawdown of a state over first..last."""

    def __init__(self, first: int, last: int, max_points: int = DEFAULT_MAX_POINTS) -> None:
        if max_points < 1:
            raise ValueError(f"max_points must be 1 or more, got {max_points}")
        self.first, self.last, self.max_points = first, last, max_points
        self.opening: Decimal | None = None  # equity when the range (or its session) began
        self.peak = self.worst = self.worst_pct = ZERO
        self.points: list[dict[str, Any]] = []
        self._slice = -1
        self._pending: tuple[int, datetime, Decimal, Decimal, Decimal] | None = None
        self._last: tuple[Decimal, Decimal, Decimal] | None = None  # as of the last step

    def begin(self, state: SystemState) -> None:
        """The state just before the range: where the curve starts (if a session has)."""
        if state.starting_equity is not None:
            self.opening = self.peak = state.equity + state.unrealized_pnl

    def observe(self, state: SystemState, sequence: int, when: datetime) -> None:
        """The state after the step at `sequence` (steps in sequence order)."""
        if state.starting_equity is None:
            return  # nothing to chart before the session says what it started with
        unrealized = state.unrealized_pnl
        total = state.equity + unrealized
        if self.opening is None:
            self.opening = self.peak = total
        self.peak = max(self.peak, total)
        drawdown = total - self.peak
        if drawdown < self.worst:
            self.worst, self.worst_pct = drawdown, self._pct(drawdown, self.peak)
        self._last = (state.equity, unrealized, self.peak)
        self._step(sequence, when, *self._last)

    def carry(self, state: SystemState, sequence: int, when: datetime) -> None:
        """`observe` after a step that changed nothing the curve shows (a price of a symbol
        the state holds no position in): the figures of the last step stay, the point moves
        on to this one."""
        if self._last is None:
            self.observe(state, sequence, when)
        else:
            self._step(sequence, when, *self._last)

    def _step(
        self, sequence: int, when: datetime, equity: Decimal, unrealized: Decimal, peak: Decimal
    ) -> None:
        span = self.last - self.first + 1
        current = (sequence - self.first) * self.max_points // span if span > 0 else 0
        if current != self._slice:
            self._flush()
            self._slice = current
        self._pending = (sequence, when, equity, unrealized, peak)

    @staticmethod
    def _pct(drawdown: Decimal, peak: Decimal) -> Decimal:
        return (drawdown / peak).quantize(PCT) if peak > 0 else ZERO

    def _flush(self) -> None:
        if self._pending is None:
            return
        sequence, when, equity, unrealized, peak = self._pending
        total = equity + unrealized
        drawdown = total - peak
        self.points.append(
            {
                "time": format_utc(when),
                "sequence_number": sequence,
                "equity": decimal_to_str(equity),
                "unrealized_pnl": decimal_to_str(unrealized),
                "equity_with_unrealized": decimal_to_str(total),
                "drawdown": decimal_to_str(drawdown),
                "drawdown_pct": decimal_to_str(self._pct(drawdown, peak)),
            }
        )
        self._pending = None

    def to_document(self) -> dict[str, Any]:
        self._flush()
        opening = self.opening
        charted = opening is not None
        return {
            "first_sequence": self.first,
            "last_sequence": self.last,
            "max_points": self.max_points,
            "points": self.points,
            "starting_equity": decimal_to_str(opening) if opening is not None else None,
            "peak": decimal_to_str(self.peak) if charted else None,
            "max_drawdown": decimal_to_str(self.worst) if charted else None,
            "max_drawdown_pct": decimal_to_str(self.worst_pct) if charted else None,
        }


def _steps(store: EventStore, first: int, last: int) -> list[Step]:
    bars = store.bars(None, first, last)
    account = store.find_events(event_types=ACCOUNT_EVENTS, from_sequence=first, to_sequence=last)
    merged: list[Step] = [*bars, *account]
    merged.sort(key=lambda s: s.sequence_number or 0)
    return merged


def recorded_curve(
    store: EventStore, first: int, last: int, max_points: int = DEFAULT_MAX_POINTS
) -> EquityCurve:
    """The curve of the recorded log over the sequence range first..last."""
    curve = EquityCurve(first, last, max_points)
    state = ReplayEngine(store).state_at(first - 1).state
    curve.begin(state)
    positions = state.positions
    for step in _steps(store, first, last):
        if isinstance(step, BaseEvent):
            state.apply(step)
        else:
            # The marking part of reduce_market_data, on the undecoded price: nothing else of
            # a bar moves equity, and a bar of a symbol held in no position moves nothing.
            position = positions.get(step.symbol)
            if position is None:
                curve.carry(state, step.sequence_number, step.timestamp_utc)
                continue
            price = Decimal(step.price)
            state.last_prices[step.symbol] = price
            position.mark(price)
        curve.observe(state, step.sequence_number or 0, step.timestamp_utc)
    return curve


def equity_curve(
    store: EventStore,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    *,
    bounds: Bounds | Unknown = UNKNOWN,
) -> dict[str, Any]:
    """The document of `GET /equity` (start inclusive, end exclusive); `bounds`: the range's
    sequences when the caller has them already."""
    if isinstance(bounds, Unknown):
        bounds = sequence_range(store, start, end)
    if bounds is None:
        curve = EquityCurve(0, -1, max_points)
    else:
        curve = recorded_curve(store, *bounds, max_points=max_points)
    document = curve.to_document()
    if bounds is None:
        document["first_sequence"] = document["last_sequence"] = None
    return {"from": iso(start), "to": iso(end), **document}
