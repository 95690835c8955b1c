"""What every timeline answer shows of an event and of a position: one line, one document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from claire.audit.summary import summarize
from claire.events.model import BaseEvent
from claire.events.values import decimal_to_str, format_utc
from claire.state.model import Position
from claire.store.port import event_symbol


def event_line(event: BaseEvent) -> dict[str, Any]:
    """An event as one line of a list: where it is, what it is, and its one-line summary.

    `verified`/`problem` are null until the chain verification of single events (issue 12
    §3) can answer them; the UI shows a warning only for `verified: false`.
    """
    return {
        "event_id": str(event.event_id),
        "sequence_number": event.sequence_number,
        "time": format_utc(event.timestamp_utc),
        "event_type": event.event_type.value,
        "symbol": event_symbol(event.payload),
        "summary": summarize(event),
        "correlation_id": str(event.correlation_id),
        "verified": None,
        "problem": None,
    }


def position_document(position: Position, last_price: Decimal | None) -> dict[str, Any]:
    """An open position with the price it is marked at (its unrealised PnL is at that price)."""
    return {
        "symbol": position.symbol,
        "side": position.side.value,
        "size": decimal_to_str(position.size),
        "entry_price": decimal_to_str(position.entry_price),
        "last_price": decimal_to_str(last_price) if last_price is not None else None,
        "unrealized_pnl": decimal_to_str(position.unrealized_pnl),
        "realized_pnl": decimal_to_str(position.realized_pnl),
        "stop_loss_price": (
            decimal_to_str(position.stop_loss_price) if position.stop_loss_price else None
        ),
        "correlation_id": position.correlation_id,
    }
