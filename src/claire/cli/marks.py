"""The chain's verdict on the events a replay, what-if or validation report names.

Those reports name a few stored events: the snapshot a replay started from, the causation chain
of the first changed or divergent decision, the snapshots that did not match. Each is checked
with `claire.audit.vouch` (one store query for all): a causation link gets `verified`/`problem`,
a snapshot gets `chain: {verified, problem}` (its own `verified` is about its state). The text
report ends with a warning line for each one that does not verify.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claire.audit.vouch import MARK, mark_documents
from claire.store.port import EventStore


def _chain(divergence: Any) -> list[dict[str, Any]]:
    if not isinstance(divergence, dict):
        return []
    return [link for link in divergence.get("causation_chain") or [] if link.get("sequence_number")]


def _snapshot(part: dict[str, Any]) -> dict[str, Any]:
    """A snapshot descriptor's own `verified` says whether its *state* was checked against a
    fold; the chain's verdict on the stored event goes beside it, under `chain`."""
    chain = {"sequence_number": part["sequence_number"], "event_type": "state_snapshot"}
    part["chain"] = chain
    return chain


def named_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of a replay/what-if/validation document that stand for stored events (the
    parts to mark: event links themselves, a snapshot's `chain` entry)."""
    named: list[dict[str, Any]] = []
    if document.get("snapshot_used"):
        named.append(_snapshot(document["snapshot_used"]))
    named.extend(_chain(document.get("first_change")))
    for check in document.get("checks") or []:
        details = check.get("details") or {}
        named.extend(_chain(details.get("first_divergence")))
        named.extend(
            _snapshot(f) for f in details.get("failures") or [] if f.get("sequence_number")
        )
    return named


def vouch_named(store: EventStore, document: dict[str, Any]) -> list[dict[str, Any]]:
    """Add `verified`/`problem` to every event the document names; return those parts."""
    named = named_events(document)
    mark_documents(store, named)
    return named


def render_marks(named: list[dict[str, Any]], say: Callable[[str, str | None], None]) -> None:
    """One warning line per named event the chain cannot vouch for."""
    for part in named:
        if part.get("verified") is False:
            what = part.get("event_type") or "event"
            say(
                f"{MARK}: {what} at sequence {part['sequence_number']}: {part['problem']}",
                "bold red",
            )
