"""What every timeline answer shows of an event and of a position: one line, one document.

Every event shown carries the chain's verdict on it (claire.audit.vouch: its hash, its columns
and its successor's link), all events of an answer checked in one store query.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from claire.audit.summary import summarize
from claire.audit.vouch import NOT_STORED, Verdict, verdicts
from claire.events.model import BaseEvent
from claire.events.values import decimal_to_str, format_utc
from claire.state.model import Position
from claire.store.port import EventStore, event_symbol

Verdicts = dict[int, Verdict]


def check(store: EventStore, events: Iterable[BaseEvent | None]) -> Verdicts:
    """The chain's verdict on each of these events, by sequence number (one query)."""
    return verdicts(store, (e.sequence_number for e in events if e is not None))


def verdict_of(event: BaseEvent, checked: Verdicts) -> Verdict:
    return checked.get(event.sequence_number or 0, NOT_STORED)


def event_line(event: BaseEvent, checked: Verdicts) -> dict[str, Any]:
    """An event as one line of a list: where it is, what it is, its one-line summary, and
    whether the chain vouches for it (`verified`, and `problem` when it does not)."""
    return {
        "event_id": str(event.event_id),
        "sequence_number": event.sequence_number,
        "time": format_utc(event.timestamp_utc),
        "event_type": event.event_type.value,
        "symbol": event_symbol(event.payload),
        "summary": summarize(event),
        "correlation_id": str(event.correlation_id),
        **verdict_of(event, checked).to_document(),
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
