"""Why was the bot in (or out of) SYMBOL at TIME?

If a position in the symbol was open as of TIME: the decision that opened it, explained as
`claire explain ID` explains it, and what became of the position afterwards (closed at sequence
N by stop-loss, take-profit or a signal, with its PnL; or still open). If none was open: the
last decision on the symbol at or before TIME (approved or rejected), explained the same way.
Either way the next decision on the symbol after TIME is named.

No fold is needed: a position is what its last position_update says (the state's own reducer
builds it), marked at the symbol's last price as of TIME, exactly as the fold would mark it.
`claire explain --at … --symbol … --json` and `GET /explain?at=&symbol=` return the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from claire.audit.explain import Explanation, explain_event
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import decimal_to_str, format_utc
from claire.state.model import Position, SystemState, reduce_market_data, reduce_position_update
from claire.store.port import EventStore
from claire.timeline.lines import Verdicts, check, event_line, position_document, verdict_of
from claire.timeline.moment import Moment, require_symbol, resolve_moment
from claire.timeline.when import TIMEZONE, iso

Exit = Literal["stop_loss", "take_profit", "signal", "other"]
EXIT_CHECKS: tuple[Exit, ...] = ("stop_loss", "take_profit")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a position after the moment it was open at."""

    closed_by: BaseEvent | None  # the position_update that closed it (None: still open)
    decision: BaseEvent | None  # the decision that closed it
    exit: Exit | None
    fees: Decimal  # every fee paid on the trade up to the close (or so far)

    def to_document(self, checked: Verdicts) -> dict[str, Any]:
        closed = self.closed_by
        verdict = verdict_of(closed, checked).to_document() if closed else {}
        return {
            "status": "closed" if closed else "open",
            "closed_at_sequence": closed.sequence_number if closed else None,
            "closed_at_time": format_utc(closed.timestamp_utc) if closed else None,
            "exit": self.exit,
            "exit_reason": self.decision.payload.get("reason") if self.decision else None,
            "realized_pnl": closed.payload.get("realized_pnl") if closed else None,
            "fees": decimal_to_str(self.fees),
            # The chain's verdict on the closing position_update (null while open).
            "verified": verdict.get("verified"),
            "problem": verdict.get("problem"),
        }


@dataclass(slots=True)
class ExplainAt:
    moment: Moment
    symbol: str
    position: Position | None
    last_price: Decimal | None
    explanation: Explanation | None  # of the opening decision, or of the last decision
    outcome: Outcome | None  # only when a position was open
    next_decision: BaseEvent | None
    checked: Verdicts = field(default_factory=dict)  # on the next decision and the close

    @property
    def position_open(self) -> bool:
        return self.position is not None

    def to_document(self) -> dict[str, Any]:
        return {
            "at": iso(self.moment.at),
            "timezone": TIMEZONE,
            "symbol": self.symbol,
            "as_of_sequence": self.moment.sequence,
            "as_of_time": format_utc(self.moment.event.timestamp_utc),
            "position_open": self.position_open,
            "position": (
                position_document(self.position, self.last_price) if self.position else None
            ),
            "decision_role": (
                None
                if self.explanation is None
                else "opened_position"
                if self.position_open
                else "last_decision"
            ),
            "explanation": self.explanation.to_document() if self.explanation else None,
            "outcome": self.outcome.to_document(self.checked) if self.outcome else None,
            "next_decision": (
                event_line(self.next_decision, self.checked) if self.next_decision else None
            ),
        }


def explain_at(
    store: EventStore, symbol: str, *, at: datetime | None = None, sequence: int | None = None
) -> ExplainAt:
    """The answer for `symbol` as of `at` (or `sequence`); NotFoundError for an unknown symbol
    (naming the known ones) or when nothing was recorded at or before the moment."""
    moment = resolve_moment(store, at, sequence)
    last = moment.sequence
    position, last_price = _position(store, symbol, last)
    decisions = [EventType.RISK_DECISION]
    following = store.find_events(
        symbol=symbol, event_types=decisions, from_sequence=last + 1, limit=1
    )
    answer = ExplainAt(
        moment, symbol, position, last_price, None, None, following[0] if following else None
    )
    if position is not None:
        trade = store.read_correlation(UUID(position.correlation_id))
        opened = _opening_decision(store, trade, symbol, last)
        answer.explanation = explain_event(store, opened.event_id) if opened else None
        answer.outcome = _outcome(trade, symbol, last)
        answer.checked = check(store, [answer.next_decision, answer.outcome.closed_by])
        return answer
    previous = store.find_events(
        symbol=symbol, event_types=decisions, to_sequence=last, limit=1, newest_first=True
    )
    if previous:
        answer.explanation = explain_event(store, previous[0].event_id)
    elif last_price is None and not following:
        require_symbol(store, symbol)  # nothing at all about it: is it known?
    answer.checked = check(store, [answer.next_decision])
    return answer


def _position(store: EventStore, symbol: str, last: int) -> tuple[Position | None, Decimal | None]:
    """The symbol's position as of `last`, folded by the state's own reducers from its last
    position_update and the market data after it; and the symbol's last price."""
    scratch = SystemState()
    updates = store.find_events(
        symbol=symbol,
        event_types=[EventType.POSITION_UPDATE],
        to_sequence=last,
        limit=1,
        newest_first=True,
    )
    prices = store.find_events(
        symbol=symbol,
        event_types=[EventType.MARKET_DATA],
        to_sequence=last,
        limit=1,
        newest_first=True,
    )
    if updates:
        reduce_position_update(scratch, updates[0])
    if prices and (not updates or _seq(prices[0]) > _seq(updates[0])):
        reduce_market_data(scratch, prices[0])
    last_price = Decimal(prices[0].payload["price"]) if prices else None
    return scratch.positions.get(symbol), last_price


def _updates(trade: list[BaseEvent], symbol: str) -> list[BaseEvent]:
    return [
        e
        for e in trade
        if e.event_type is EventType.POSITION_UPDATE and e.payload.get("symbol") == symbol
    ]


def _opening_decision(
    store: EventStore, trade: list[BaseEvent], symbol: str, last: int
) -> BaseEvent | None:
    """The decision behind the update that opened the position open at `last`: the first
    update of the trade after its last close at or before `last`."""
    opening: BaseEvent | None = None
    for update in _updates(trade, symbol):
        if _seq(update) > last:
            break
        if update.payload.get("status") == "CLOSED":
            opening = None
        elif opening is None:
            opening = update
    if opening is None:
        return None
    chain = store.causation_chain(opening.event_id)
    found = [e for e in chain if e.event_type is EventType.RISK_DECISION]
    return found[-1] if found else None


def _outcome(trade: list[BaseEvent], symbol: str, last: int) -> Outcome:
    by_id = {e.event_id: e for e in trade}
    closed = next(
        (
            u
            for u in _updates(trade, symbol)
            if _seq(u) > last and u.payload.get("status") == "CLOSED"
        ),
        None,
    )
    end = _seq(closed) if closed else None
    fees = sum(
        (
            Decimal(e.payload.get("fee", "0"))
            for e in trade
            if e.event_type is EventType.ORDER_RESULT and (end is None or _seq(e) <= end)
        ),
        Decimal(0),
    )
    if closed is None:
        return Outcome(None, None, None, fees)
    decision = _cause_of_type(closed, EventType.RISK_DECISION, by_id)
    return Outcome(closed, decision, _exit_kind(decision, by_id), fees)


def _cause_of_type(
    event: BaseEvent, kind: EventType, by_id: dict[UUID, BaseEvent]
) -> BaseEvent | None:
    current: BaseEvent | None = event
    while current is not None:
        if current.event_type is kind:
            return current
        current = by_id.get(current.causation_id) if current.causation_id else None
    return None


def _exit_kind(decision: BaseEvent | None, by_id: dict[UUID, BaseEvent]) -> Exit:
    if decision is None:
        return "other"
    checks = decision.payload.get("risk_checks") or {}
    for kind in EXIT_CHECKS:
        if kind in checks:
            return kind
    if _cause_of_type(decision, EventType.SIGNAL_GENERATED, by_id) is not None:
        return "signal"
    return "other"


def _seq(event: BaseEvent) -> int:
    return event.sequence_number or 0


__all__ = ["ExplainAt", "Outcome", "explain_at"]
