"""Shared by every audit view: an event as a JSON-native document and a one-line summary."""

from __future__ import annotations

from typing import Any

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc


def event_document(event: BaseEvent) -> dict[str, Any]:
    """The stored event as JSON-native data (Decimals are already text in `payload`)."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "sequence_number": event.sequence_number,
        "timestamp_utc": format_utc(event.timestamp_utc),
        "timestamp_logical": event.timestamp_logical,
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "correlation_id": str(event.correlation_id),
        "metadata": event.metadata.document,
        "payload": event.payload,
    }


def _market_data(p: dict[str, Any]) -> str:
    return f"Symbol: {p['symbol']}, Price: {p['price']}"


def _signal(p: dict[str, Any]) -> str:
    return f"{p['side']} {p['symbol']} @ {p['confidence']} confidence"


def _risk_decision(p: dict[str, Any]) -> str:
    return f"Approved: {p['approved']}, Reason: {p['reason']}"


def _order_request(p: dict[str, Any]) -> str:
    limit = f" limit={p['limit_price']}" if p.get("limit_price") else ""
    return f"{p['side']} {p['symbol']} size={p['size']}{limit}"


def _order_result(p: dict[str, Any]) -> str:
    price = f" @ {p['average_price']}" if p.get("average_price") else ""
    return f"Status: {p['status']}, Filled: {p['filled_size']}{price}"


def _position_update(p: dict[str, Any]) -> str:
    return (
        f"{p['status']} {p['side']} {p['symbol']} size={p['size']} @ {p['entry_price']}, "
        f"realized PnL: {p.get('realized_pnl', '0')}"
    )


def _alert(p: dict[str, Any]) -> str:
    return f"{p['level']} {p['code']}: {p['message']}"


def _state_snapshot(p: dict[str, Any]) -> str:
    return f"State at seq {p['at_sequence']}, hash {str(p['state_hash'])[:16]}…"


_SUMMARIES = {
    EventType.MARKET_DATA: _market_data,
    EventType.SIGNAL_GENERATED: _signal,
    EventType.RISK_DECISION: _risk_decision,
    EventType.ORDER_REQUEST: _order_request,
    EventType.ORDER_RESULT: _order_result,
    EventType.POSITION_UPDATE: _position_update,
    EventType.ALERT: _alert,
    EventType.STATE_SNAPSHOT: _state_snapshot,
}


def summarize(event: BaseEvent) -> str:
    """The seed's one-line summary of an event, e.g. "BUY BTCUSDT @ 0.85 confidence"."""
    try:
        return _SUMMARIES[event.event_type](event.payload)
    except KeyError as exc:  # a payload from an older schema lacking a field: say so, not crash
        return f"(payload lacks {exc.args[0]!r})"
