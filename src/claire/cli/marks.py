"""The warning lines of a replay, what-if or validation report for the events it names that
the chain cannot vouch for (the verdicts themselves: `claire.audit.vouch.vouch_named`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claire.audit.vouch import MARK, vouch_named

__all__ = ["render_marks", "vouch_named"]


def render_marks(named: list[dict[str, Any]], say: Callable[[str, str | None], None]) -> None:
    """One warning line per named event the chain cannot vouch for."""
    for part in named:
        if part.get("verified") is False:
            what = part.get("event_type") or "event"
            say(
                f"{MARK}: {what} at sequence {part['sequence_number']}: {part['problem']}",
                "bold red",
            )
