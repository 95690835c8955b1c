"""Trace a trade or session: every event of one correlation id, in sequence order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from claire.audit.summary import event_document, summarize
from claire.audit.vouch import VERIFIED, Verdict, verdicts
from claire.errors import NotFoundError
from claire.events.model import BaseEvent
from claire.store.port import EventStore


@dataclass(frozen=True, slots=True)
class TraceEntry:
    number: int  # 1-based position in the trace
    event: BaseEvent
    summary: str
    verdict: Verdict = VERIFIED  # the chain's verdict on the event (claire.audit.vouch)

    def to_document(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "summary": self.summary,
            **event_document(self.event),
            **self.verdict.to_document(),
        }


@dataclass(frozen=True, slots=True)
class Trace:
    correlation_id: UUID
    entries: list[TraceEntry]

    @property
    def total(self) -> int:
        return len(self.entries)

    @property
    def unverified(self) -> int:
        return sum(not entry.verdict.verified for entry in self.entries)

    def counts_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            key = entry.event.event_type.value
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def to_document(self) -> dict[str, Any]:
        return {
            "correlation_id": str(self.correlation_id),
            "total_events": self.total,
            "counts_by_type": self.counts_by_type(),
            "unverified_events": self.unverified,
            "events": [entry.to_document() for entry in self.entries],
        }


def trace_correlation(store: EventStore, correlation_id: UUID) -> Trace:
    """All events of a correlation id, each with the chain's verdict; NotFoundError when there
    are none."""
    events = store.read_correlation(correlation_id)
    if not events:
        raise NotFoundError(f"no events with correlation id {correlation_id}")
    checked = verdicts(store, (e.sequence_number for e in events))
    return Trace(
        correlation_id,
        [
            TraceEntry(
                i, event, summarize(event), checked.get(event.sequence_number or 0, VERIFIED)
            )
            for i, event in enumerate(events, start=1)
        ],
    )
