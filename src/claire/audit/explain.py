"""Explain any stored event: what caused it (back to the market data) and what it caused.

The seed's `explain_decision()`: for a risk decision this is the decision, its signal, its
market data and every risk check; for any other event the same context is found along its
causation chain (an order result explains back through its order, decision, signal and market
data) or, for an event upstream of the decision (market data, a signal), among its effects.
Every event shown carries the chain's verdict on it (`claire.audit.vouch`), all checked in one
store query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from claire.audit.summary import event_document, summarize
from claire.audit.vouch import VERIFIED, Verdict, verdicts
from claire.errors import NotFoundError
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.store.port import EventStore

Relation = Literal["self", "cause", "effect"]


@dataclass(frozen=True, slots=True)
class RelatedEvent:
    """An event in the explanation and how it relates to the explained one."""

    relation: Relation
    event: BaseEvent
    verdict: Verdict = VERIFIED

    def to_document(self) -> dict[str, Any]:
        return {
            "relation": self.relation,
            **event_document(self.event),
            **self.verdict.to_document(),
        }


@dataclass(frozen=True, slots=True)
class RiskCheck:
    name: str
    checked: bool
    passed: bool
    current_value: str | None
    limit: str | None

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checked": self.checked,
            "passed": self.passed,
            "current_value": self.current_value,
            "limit": self.limit,
        }


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One step of the causation chain or of the effects, with its one-line summary."""

    event_id: UUID
    event_type: EventType
    sequence_number: int | None
    timestamp_utc: str
    summary: str
    verdict: Verdict = VERIFIED

    @classmethod
    def of(cls, event: BaseEvent, verdict: Verdict = VERIFIED) -> ChainLink:
        return cls(
            event.event_id,
            event.event_type,
            event.sequence_number,
            format_utc(event.timestamp_utc),
            summarize(event),
            verdict,
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type.value,
            "sequence_number": self.sequence_number,
            "timestamp_utc": self.timestamp_utc,
            "summary": self.summary,
            **self.verdict.to_document(),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    event: BaseEvent
    decision: RelatedEvent | None
    signal: RelatedEvent | None
    market_data: RelatedEvent | None
    order: RelatedEvent | None
    risk_checks: list[RiskCheck]
    causation_chain: list[ChainLink]  # root first, the explained event last
    effects: list[ChainLink]  # descendants in sequence order
    verdict: Verdict = VERIFIED  # of the explained event itself
    # Every event shown, by sequence number (see claire.audit.vouch).
    verdicts: dict[int, Verdict] = field(default_factory=dict)

    @property
    def unverified(self) -> int:
        """How many of the events shown the chain cannot vouch for."""
        return sum(not v.verified for v in self.verdicts.values())

    @property
    def approved(self) -> bool | None:
        value = _payload_field(self.decision, "approved")
        return value if isinstance(value, bool) else None

    @property
    def reason(self) -> str | None:
        value = _payload_field(self.decision, "reason")
        return value if isinstance(value, str) else None

    def to_document(self) -> dict[str, Any]:
        def related(item: RelatedEvent | None) -> dict[str, Any] | None:
            return item.to_document() if item else None

        document = {**event_document(self.event), **self.verdict.to_document()}
        if self.event.event_type is EventType.RISK_DECISION:
            document["approved"] = self.event.payload.get("approved")
            document["reason"] = self.event.payload.get("reason")
        return {
            "event_id": str(self.event.event_id),
            "event": document,
            "decision": related(self.decision),
            "signal": related(self.signal),
            "market_data": related(self.market_data),
            "order": related(self.order),
            "risk_state": self.decision.event.payload.get("risk_state") if self.decision else None,
            "risk_checks": [check.to_document() for check in self.risk_checks],
            "causation_chain": [link.to_document() for link in self.causation_chain],
            "effects": [link.to_document() for link in self.effects],
            "unverified_events": self.unverified,
        }


def _payload_field(item: RelatedEvent | None, name: str) -> Any:
    return item.event.payload.get(name) if item else None


def _nearest(
    event_type: EventType,
    ancestors: list[BaseEvent],
    effects: list[BaseEvent],
    own: BaseEvent,
    checked: dict[int, Verdict],
) -> RelatedEvent | None:
    """The closest event of a type: the event itself, else the nearest cause, else the
    first effect (so explaining a signal still shows the decision it led to)."""

    def related(relation: Relation, event: BaseEvent) -> RelatedEvent:
        return RelatedEvent(relation, event, _verdict(checked, event))

    if own.event_type is event_type:
        return related("self", own)
    for cause in reversed(ancestors):
        if cause.event_type is event_type:
            return related("cause", cause)
    for effect in effects:
        if effect.event_type is event_type:
            return related("effect", effect)
    return None


def _verdict(checked: dict[int, Verdict], event: BaseEvent) -> Verdict:
    seq = event.sequence_number
    return checked.get(seq, VERIFIED) if seq is not None else VERIFIED


def _risk_checks(decision: RelatedEvent | None) -> list[RiskCheck]:
    if decision is None:
        return []
    checks: dict[str, dict[str, Any]] = decision.event.payload.get("risk_checks") or {}
    return [
        RiskCheck(
            name=name,
            checked=bool(check.get("checked")),
            passed=bool(check.get("passed")),
            current_value=check.get("current_value"),
            limit=check.get("limit"),
        )
        for name, check in sorted(checks.items())
    ]


def explain_event(store: EventStore, event_id: UUID) -> Explanation:
    """Explain one event; NotFoundError when no event has this id."""
    event = store.get(event_id)
    if event is None:
        raise NotFoundError(f"no event with id {event_id}")
    chain = store.causation_chain(event_id)
    ancestors = [e for e in chain if e.event_id != event_id]
    effects = store.effects(event_id)
    shown = [*ancestors, event, *effects]
    checked = verdicts(store, (e.sequence_number for e in shown))
    decision = _nearest(EventType.RISK_DECISION, ancestors, effects, event, checked)
    return Explanation(
        event=event,
        decision=decision,
        signal=_nearest(EventType.SIGNAL_GENERATED, ancestors, effects, event, checked),
        market_data=_nearest(EventType.MARKET_DATA, ancestors, effects, event, checked),
        order=_nearest(EventType.ORDER_REQUEST, ancestors, effects, event, checked),
        risk_checks=_risk_checks(decision),
        causation_chain=[ChainLink.of(e, _verdict(checked, e)) for e in [*ancestors, event]],
        effects=[ChainLink.of(e, _verdict(checked, e)) for e in effects],
        verdict=_verdict(checked, event),
        verdicts=checked,
    )
