"""SystemState: what the log folds into, and one reducer per event type.

Reducers read only the state and the event they are given (no clock, no I/O, no randomness)
and update the state in place: a million-event fold cannot afford a copy per event. The state
has a canonical JSON document and a hash, which snapshots record and validation compares.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from claire.events.codec import content_hash
from claire.events.model import BaseEvent
from claire.events.payloads import EventType, Side
from claire.events.values import decimal_to_str

ZERO = Decimal(0)
_TYPE_NAMES = {kind: kind.value for kind in EventType}
HISTORY_LENGTH = 64  # bars kept per symbol; strategies may look back at most this far
SESSION_STARTED = "session_started"
RISK_LIMIT_HIT = "risk_limit_hit"


def _d(text: Any) -> Decimal:
    return Decimal(text)


def _s(value: Decimal) -> str:
    return decimal_to_str(value)


@dataclass(slots=True)
class Position:
    symbol: str
    side: Side
    size: Decimal
    entry_price: Decimal
    stop_loss_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    correlation_id: str

    def mark(self, price: Decimal) -> None:
        direction = 1 if self.side is Side.BUY else -1
        self.unrealized_pnl = (price - self.entry_price) * self.size * direction

    def to_document(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "size": _s(self.size),
            "entry_price": _s(self.entry_price),
            "stop_loss_price": _s(self.stop_loss_price) if self.stop_loss_price else None,
            "realized_pnl": _s(self.realized_pnl),
            "unrealized_pnl": _s(self.unrealized_pnl),
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Position:
        stop = doc["stop_loss_price"]
        return cls(
            doc["symbol"],
            Side(doc["side"]),
            _d(doc["size"]),
            _d(doc["entry_price"]),
            _d(stop) if stop is not None else None,
            _d(doc["realized_pnl"]),
            _d(doc["unrealized_pnl"]),
            doc["correlation_id"],
        )


@dataclass(slots=True)
class OpenOrder:
    order_id: str
    symbol: str
    side: Side
    size: Decimal
    reduce_only: bool
    correlation_id: str

    def to_document(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "size": _s(self.size),
            "reduce_only": self.reduce_only,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> OpenOrder:
        return cls(
            doc["order_id"],
            doc["symbol"],
            Side(doc["side"]),
            _d(doc["size"]),
            doc["reduce_only"],
            doc["correlation_id"],
        )


@dataclass(slots=True)
class SystemState:
    """The bot's state as of `last_sequence`: account, positions, orders, market, counters."""

    starting_equity: Decimal | None = None
    equity: Decimal = ZERO  # realised: starting equity + realised PnL - fees
    day: str | None = None  # UTC date of the last market data, e.g. "2025-02-14"
    day_start_equity: Decimal = ZERO
    daily_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)
    last_prices: dict[str, Decimal] = field(default_factory=dict)
    history: dict[str, deque[tuple[Decimal, Decimal]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    bars_seen: dict[str, int] = field(default_factory=dict)  # market data events per symbol
    last_signal_bar: dict[str, int] = field(default_factory=dict)  # bars_seen at last signal
    limit_alerts: dict[str, str] = field(default_factory=dict)  # risk limit -> day last alerted
    last_sequence: int = 0
    last_timestamp_logical: int = 0

    # --- the fold ----------------------------------------------------------------------------
    def apply(self, event: BaseEvent) -> None:
        """Fold one event into the state."""
        kind = event.event_type
        REDUCERS[kind](self, event)
        name = _TYPE_NAMES[kind]  # Enum.value is a Python-level property: a lookup is cheaper
        counters = self.counters
        counters[name] = counters.get(name, 0) + 1
        if event.sequence_number is not None:
            self.last_sequence = event.sequence_number
        self.last_timestamp_logical = event.timestamp_logical

    # --- derived figures ---------------------------------------------------------------------
    @property
    def exposure(self) -> Decimal:
        """Sum of |size x last price| over open positions."""
        total = ZERO
        for pos in self.positions.values():
            total += pos.size * self.last_prices.get(pos.symbol, pos.entry_price)
        return total

    @property
    def total_exposure_pct(self) -> Decimal:
        if self.equity <= 0:
            return ZERO
        return (self.exposure / self.equity).quantize(Decimal("0.000001"))

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    def risk_state(self) -> dict[str, Any]:
        """The seed's RiskState: equity, daily_pnl, total_exposure_pct, open_positions."""
        return {
            "equity": self.equity,
            "daily_pnl": self.daily_pnl,
            "total_exposure_pct": self.total_exposure_pct,
            "open_positions": len(self.positions),
        }

    # --- canonical form ----------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        return {
            "starting_equity": _s(self.starting_equity)
            if self.starting_equity is not None
            else None,
            "equity": _s(self.equity),
            "day": self.day,
            "day_start_equity": _s(self.day_start_equity),
            "daily_pnl": _s(self.daily_pnl),
            "fees_paid": _s(self.fees_paid),
            "positions": {k: v.to_document() for k, v in sorted(self.positions.items())},
            "open_orders": {k: v.to_document() for k, v in sorted(self.open_orders.items())},
            "last_prices": {k: _s(v) for k, v in sorted(self.last_prices.items())},
            "history": {
                k: [[_s(p), _s(v)] for p, v in bars] for k, bars in sorted(self.history.items())
            },
            "counters": dict(sorted(self.counters.items())),
            "bars_seen": dict(sorted(self.bars_seen.items())),
            "last_signal_bar": dict(sorted(self.last_signal_bar.items())),
            "limit_alerts": dict(sorted(self.limit_alerts.items())),
            "last_sequence": self.last_sequence,
            "last_timestamp_logical": self.last_timestamp_logical,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SystemState:
        start = doc["starting_equity"]
        return cls(
            starting_equity=_d(start) if start is not None else None,
            equity=_d(doc["equity"]),
            day=doc["day"],
            day_start_equity=_d(doc["day_start_equity"]),
            daily_pnl=_d(doc["daily_pnl"]),
            fees_paid=_d(doc["fees_paid"]),
            positions={k: Position.from_document(v) for k, v in doc["positions"].items()},
            open_orders={k: OpenOrder.from_document(v) for k, v in doc["open_orders"].items()},
            last_prices={k: _d(v) for k, v in doc["last_prices"].items()},
            history={
                k: deque(((_d(p), _d(v)) for p, v in bars), maxlen=HISTORY_LENGTH)
                for k, bars in doc["history"].items()
            },
            counters=dict(doc["counters"]),
            bars_seen=dict(doc.get("bars_seen", {})),
            last_signal_bar=dict(doc.get("last_signal_bar", {})),
            limit_alerts=dict(doc.get("limit_alerts", {})),
            last_sequence=doc["last_sequence"],
            last_timestamp_logical=doc["last_timestamp_logical"],
        )

    def hash(self) -> str:
        return content_hash(self.to_document())

    def copy(self) -> SystemState:
        return copy.deepcopy(self)


# --- reducers, one per event type ------------------------------------------------------------
def reduce_market_data(state: SystemState, event: BaseEvent) -> None:
    # The fold's hottest function (most events are market data): Decimal is called directly.
    p = event.payload
    day = event.timestamp_utc.date().isoformat()
    if day != state.day:
        state.day = day
        state.day_start_equity = state.equity
        state.daily_pnl = ZERO
    symbol = p["symbol"]
    price = Decimal(p["price"])
    state.last_prices[symbol] = price
    bars = state.history.get(symbol)
    if bars is None:
        bars = state.history[symbol] = deque(maxlen=HISTORY_LENGTH)
    bars.append((price, Decimal(p["volume"])))
    state.bars_seen[symbol] = state.bars_seen.get(symbol, 0) + 1
    position = state.positions.get(symbol)
    if position is not None:
        position.mark(price)


def reduce_signal(state: SystemState, event: BaseEvent) -> None:
    symbol = event.payload["symbol"]
    state.last_signal_bar[symbol] = state.bars_seen.get(symbol, 0)


def reduce_order_request(state: SystemState, event: BaseEvent) -> None:
    p = event.payload
    state.open_orders[p["order_id"]] = OpenOrder(
        p["order_id"],
        p["symbol"],
        Side(p["side"]),
        _d(p["size"]),
        bool(p.get("reduce_only", False)),
        str(event.correlation_id),
    )


def reduce_order_result(state: SystemState, event: BaseEvent) -> None:
    p = event.payload
    # Paper and live orders are immediate-or-cancel: any result closes the order.
    state.open_orders.pop(p["order_id"], None)
    fee = _d(p.get("fee", "0"))
    state.fees_paid += fee
    state.equity -= fee
    state.daily_pnl -= fee


def reduce_position_update(state: SystemState, event: BaseEvent) -> None:
    p = event.payload
    symbol = p["symbol"]
    previous = state.positions.get(symbol)
    realized = _d(p.get("realized_pnl", "0"))
    delta = realized - (previous.realized_pnl if previous else ZERO)
    state.equity += delta
    state.daily_pnl += delta
    if p["status"] == "CLOSED":
        state.positions.pop(symbol, None)
        return
    stop = p.get("stop_loss_price")
    state.positions[symbol] = Position(
        symbol,
        Side(p["side"]),
        _d(p["size"]),
        _d(p["entry_price"]),
        _d(stop) if stop is not None else None,
        realized,
        _d(p.get("unrealized_pnl", "0")),
        str(event.correlation_id),
    )


def reduce_alert(state: SystemState, event: BaseEvent) -> None:
    p = event.payload
    if p["code"] == SESSION_STARTED and state.starting_equity is None:
        start = _d(p["context"]["starting_equity"])
        state.starting_equity = start
        state.equity = start
        state.day_start_equity = start
    elif p["code"] == RISK_LIMIT_HIT and state.day is not None:
        limit = p["context"].get("limit")
        if isinstance(limit, str):
            state.limit_alerts[limit] = state.day


def reduce_nothing(state: SystemState, event: BaseEvent) -> None:
    """Risk decisions and snapshots change no state beyond the counters."""


REDUCERS: dict[EventType, Callable[[SystemState, BaseEvent], None]] = {
    EventType.MARKET_DATA: reduce_market_data,
    EventType.SIGNAL_GENERATED: reduce_signal,
    EventType.RISK_DECISION: reduce_nothing,
    EventType.ORDER_REQUEST: reduce_order_request,
    EventType.ORDER_RESULT: reduce_order_result,
    EventType.POSITION_UPDATE: reduce_position_update,
    EventType.ALERT: reduce_alert,
    EventType.STATE_SNAPSHOT: reduce_nothing,
}
