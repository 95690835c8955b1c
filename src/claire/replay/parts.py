"""A range cut into parts, each re-executed with what recorded it: configuration and code.

Every session opens with a `session_started` alert carrying its configuration. A range is first
cut at each session's first sequence: the part starting at the range's first sequence belongs to
the latest such alert at or before it (an alert exactly at the first sequence governs from
there). Then each session's part is cut where its decisions' `metadata.code_version` changes, at
the input (market data) of the first decision of the new version, so that every decision is
re-executed by the code that made it. A part without decisions takes the code version its
session recorded (`context.code_version`), if any.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.state.model import SESSION_STARTED
from claire.store.port import EventStore

NO_SESSION = "default (no session_started alert found)"
# What a pipeline emits; market data is its input, and snapshots are the recorder's.
DECISION_TYPES = tuple(
    t for t in EventType if t not in (EventType.MARKET_DATA, EventType.STATE_SNAPSHOT)
)


@dataclass(frozen=True, slots=True)
class SessionStart:
    """A `session_started` alert: where it is, and the configuration and code it recorded."""

    sequence_number: int
    config_document: Any  # None when the alert carries no configuration
    recorded_hash: str | None
    code_version: str | None = None

    @property
    def source(self) -> str:
        where = f"session_started alert at sequence {self.sequence_number}"
        return where if self.config_document is not None else f"default ({where} carries no config)"

    @classmethod
    def of(cls, alert: BaseEvent) -> SessionStart:
        context = alert.payload.get("context")
        if not isinstance(context, Mapping):
            context = {}
        recorded = context.get("config_hash")
        version = context.get("code_version") or alert.metadata.code_version
        return cls(
            alert.sequence_number or 0,
            config_document(context),
            recorded if isinstance(recorded, str) else None,
            version if isinstance(version, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Part:
    """first..last, recorded by one session (None: before any session_started alert) with one
    code version (None: not recorded), holding `decisions` recorded decisions."""

    first: int
    last: int
    session: SessionStart | None
    code_version: str | None = None
    decisions: int = 0

    @property
    def config_source(self) -> str:
        return self.session.source if self.session is not None else NO_SESSION

    @property
    def config_document(self) -> Any:
        return self.session.config_document if self.session is not None else None

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class _Decision:
    sequence_number: int
    code_version: str | None
    event_id: UUID


def config_document(context: Mapping[str, Any]) -> Any:
    """The config document inside a session_started alert's context."""
    for key in ("config", "pipeline_config", "configuration"):
        if key in context:
            return context[key]
    return None


def session_starts(store: EventStore, last: int) -> list[SessionStart]:
    """Every session_started alert up to `last`, in order."""
    return [
        SessionStart.of(alert)
        for alert in store.read(1, last, event_types=[EventType.ALERT])
        if alert.payload.get("code") == SESSION_STARTED
    ]


def split_by_session(first: int, last: int, sessions: list[SessionStart]) -> list[Part]:
    """first..last cut at every session start inside it, each part with its session."""
    governing: SessionStart | None = None
    inside: list[SessionStart] = []
    for start in sessions:
        if start.sequence_number <= first:
            governing = start  # the latest at or before `first`, including `first` itself
        elif start.sequence_number <= last:
            inside.append(start)
    parts: list[Part] = []
    begin = first
    for start in inside:
        parts.append(_session_part(begin, start.sequence_number - 1, governing))
        begin, governing = start.sequence_number, start
    parts.append(_session_part(begin, last, governing))
    return parts


def _session_part(first: int, last: int, session: SessionStart | None) -> Part:
    return Part(first, last, session, session.code_version if session is not None else None)


def decisions_in(store: EventStore, first: int, last: int) -> list[_Decision]:
    """The recorded decisions of first..last (events something caused), in order."""
    return [
        _Decision(event.sequence_number or 0, event.metadata.code_version, event.event_id)
        for event in store.read(first, last, event_types=DECISION_TYPES)
        if event.causation_id is not None
    ]


def split_by_version(store: EventStore, part: Part, decisions: Iterable[_Decision]) -> list[Part]:
    """`part` cut where its decisions' code version changes (see the module docstring)."""
    runs: list[tuple[int, str | None, int]] = []  # (first sequence, version, decisions)
    previous_decision = part.first - 1
    for decision in decisions:
        if runs and decision.code_version == runs[-1][1]:
            begin, version, count = runs[-1]
            runs[-1] = (begin, version, count + 1)
        else:
            cut = part.first if not runs else _input_of(store, decision, previous_decision + 1)
            runs.append((cut, decision.code_version, 1))
        previous_decision = decision.sequence_number
    if not runs:
        return [part]
    pieces = []
    for index, (begin, version, count) in enumerate(runs):
        end = runs[index + 1][0] - 1 if index + 1 < len(runs) else part.last
        pieces.append(replace(part, first=begin, last=end, code_version=version, decisions=count))
    return pieces


def _input_of(store: EventStore, decision: _Decision, earliest: int) -> int:
    """Where the part of a decision's version begins: at the input its causation chain starts
    from (never before `earliest`, just after the previous version's last decision)."""
    chain = store.causation_chain(decision.event_id)
    root = chain[0].sequence_number if chain else None
    return max(earliest, root if root is not None else decision.sequence_number)


def plan(store: EventStore, first: int, last: int) -> list[Part]:
    """The parts of first..last (see the module docstring)."""
    decisions = decisions_in(store, first, last)
    positions = [d.sequence_number for d in decisions]
    parts: list[Part] = []
    for part in split_by_session(first, last, session_starts(store, last)):
        inside = decisions[bisect_left(positions, part.first) : bisect_right(positions, part.last)]
        parts.extend(split_by_version(store, part, inside))
    return parts


__all__ = [
    "DECISION_TYPES",
    "NO_SESSION",
    "Part",
    "SessionStart",
    "config_document",
    "decisions_in",
    "plan",
    "session_starts",
    "split_by_session",
    "split_by_version",
]
