"""What happened on a symbol's chart: decisions, fills, stop-loss and take-profit exits, alerts.

Each marker is one event with its id, sequence, time, kind and a one-line label. A closing
decision is a stop_loss / take_profit marker (its risk checks name the exit); every other
decision is approved or rejected. Alerts count when their context names the symbol or names
no symbol at all (an account-wide alert belongs on every chart).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claire.audit.vouch import mark_documents
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.store.port import EventStore, event_symbol
from claire.timeline.moment import require_symbol, sequence_range
from claire.timeline.when import iso

FILLED = ("FILLED", "PARTIAL")
EXITS = ("stop_loss", "take_profit")


def _decision(event: BaseEvent) -> tuple[str, str]:
    p = event.payload
    exits = [name for name in EXITS if name in (p.get("risk_checks") or {})]
    if exits:
        return exits[0], str(p.get("reason", ""))
    verdict = "approved" if p.get("approved") else "rejected"
    return f"decision_{verdict}", f"{p.get('side')} {verdict}: {p.get('reason', '')}"


def marker(event: BaseEvent, cause_price: str | None = None) -> dict[str, Any] | None:
    """The marker of an event, or None when the event is not one the chart shows. A decision
    sits at its cause's price (`cause_price`: the signal's, or the market's for an exit)."""
    p = event.payload
    price: str | None = None
    if event.event_type is EventType.RISK_DECISION:
        kind, label = _decision(event)
        price = cause_price
    elif event.event_type is EventType.ORDER_RESULT:
        if p.get("status") not in FILLED:
            return None
        kind, price = "fill", p.get("average_price")
        label = f"{p['status']} {p['side']} {p['filled_size']} @ {price}"
    elif event.event_type is EventType.ALERT:
        kind, label = "alert", f"{p.get('level')} {p.get('code')}: {p.get('message')}"
    else:
        return None
    return {
        "event_id": str(event.event_id),
        "sequence_number": event.sequence_number,
        "time": format_utc(event.timestamp_utc),
        "kind": kind,
        "label": label,
        "side": p.get("side"),
        "price": price,
        "correlation_id": str(event.correlation_id),
    }


def markers(
    store: EventStore, symbol: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """The document of `GET /markers/{symbol}` (start inclusive, end exclusive)."""
    document: dict[str, Any] = {"symbol": symbol, "from": iso(start), "to": iso(end)}
    bounds = sequence_range(store, start, end)
    if bounds is None:
        require_symbol(store, symbol)
        return {**document, "markers": []}
    found = store.chart_events(symbol, *bounds)
    if not any(e.event_type is not EventType.ALERT for e, _ in found):
        require_symbol(store, symbol)
    shown = [
        m
        for event, price in found
        if event.event_type is not EventType.ALERT or event_symbol(event.payload) in (symbol, None)
        if (m := marker(event, price)) is not None
    ]
    mark_documents(store, shown)  # the chain's verdict on each (claire.audit.vouch)
    return {**document, "markers": shown}
