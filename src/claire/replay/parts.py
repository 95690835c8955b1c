"""A range cut into parts, each re-executed with what recorded it.

Every session opens with a `session_started` alert carrying its configuration. A part is the
stretch of a range governed by one such alert: the latest one at or before the part's first
sequence (an alert exactly at a range's first sequence governs the range from there). A range
that spans several sessions is cut at each session's first sequence, so no session is ever
re-executed with another session's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.state.model import SESSION_STARTED
from claire.store.port import EventStore

NO_SESSION = "default (no session_started alert found)"


@dataclass(frozen=True, slots=True)
class SessionStart:
    """A `session_started` alert: where it is, and the configuration it recorded."""

    sequence_number: int
    config_document: Any  # None when the alert carries no configuration
    recorded_hash: str | None

    @property
    def source(self) -> str:
        where = f"session_started alert at sequence {self.sequence_number}"
        return where if self.config_document is not None else f"default ({where} carries no config)"

    @classmethod
    def of(cls, alert: BaseEvent) -> SessionStart:
        context = alert.payload.get("context") or {}
        recorded = context.get("config_hash") if isinstance(context, Mapping) else None
        return cls(
            alert.sequence_number or 0,
            config_document(context) if isinstance(context, Mapping) else None,
            recorded if isinstance(recorded, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Part:
    """first..last, recorded by one session (None: before any session_started alert)."""

    first: int
    last: int
    session: SessionStart | None

    @property
    def config_source(self) -> str:
        return self.session.source if self.session is not None else NO_SESSION

    @property
    def config_document(self) -> Any:
        return self.session.config_document if self.session is not None else None

    @property
    def size(self) -> int:
        return self.last - self.first + 1


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
        parts.append(Part(begin, start.sequence_number - 1, governing))
        begin, governing = start.sequence_number, start
    parts.append(Part(begin, last, governing))
    return parts


def plan(store: EventStore, first: int, last: int) -> list[Part]:
    """The parts of first..last (see the module docstring)."""
    return split_by_session(first, last, session_starts(store, last))


__all__ = [
    "NO_SESSION",
    "Part",
    "SessionStart",
    "config_document",
    "plan",
    "session_starts",
    "split_by_session",
]
