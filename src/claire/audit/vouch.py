"""Can the chain vouch for this one event? The check every view runs on what it shows.

`claire verify` walks the whole log; a view (explain, trace, replay, the HTTP API, the timeline)
shows a handful of events and must not present a forged one as genuine. For each event shown it
checks, from its row and the row after it (`EventStore.linked_records`, one query for all):

1. its hash recomputes from its prev_hash and its canonical bytes (else the bytes were edited);
2. its JSON columns encode to exactly its canonical bytes (else a column was edited: SQL and the
   canonical bytes would tell different stories);
3. the next row's prev_hash is its hash (else it was edited and its hash recomputed, or rows
   after it were removed): the next row's own hash covers that prev_hash, so it is what commits
   to this event's content. The newest event has no next row; only a checkpoint vouches for it.

The same checks, with the same words, are `event_problem()` in PostgreSQL (migration 006) for
the SQL audit functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from claire.events.codec import chain_hash
from claire.store.port import EventStore, LinkedRecord

MARK = "⚠ does not verify"
HASH_PROBLEM = (
    "its hash does not recompute from prev_hash and the canonical bytes (the hashed bytes "
    "were edited)"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    verified: bool
    problem: str | None = None

    @property
    def mark(self) -> str:
        """The warning a text view prints next to the event ("" when verified)."""
        return "" if self.verified else f"{MARK}: {self.problem}"

    def to_document(self) -> dict[str, Any]:
        return {"verified": self.verified, "problem": self.problem}


VERIFIED = Verdict(True)
NOT_STORED = Verdict(False, "no stored row at this sequence number")


def _columns_problem(linked: LinkedRecord) -> str | None:
    record = linked.record
    if record.columns_canonical() == record.canonical:
        return None
    try:
        hashed = orjson.loads(record.canonical)
    except orjson.JSONDecodeError:
        return "the hashed bytes are not a JSON event"
    if not isinstance(hashed, dict):
        return "the hashed bytes are not a JSON event"

    def encoded(document: dict[str, Any], name: str) -> bytes:
        return orjson.dumps(document.get(name), option=orjson.OPT_SORT_KEYS)

    names = sorted(set(hashed) | set(record.columns))
    differing = [n for n in names if encoded(hashed, n) != encoded(record.columns, n)]
    if not differing:  # same values, other bytes (e.g. key order): still not the hashed bytes
        return "the columns do not encode to the hashed bytes"
    noun = "column differs" if len(differing) == 1 else "columns differ"
    return f"{', '.join(differing)} {noun} from the hashed bytes"


def verdict(linked: LinkedRecord) -> Verdict:
    """The verdict on one stored row (see the module docstring for the three checks)."""
    record = linked.record
    try:
        recomputed = chain_hash(record.prev_hash, record.canonical)
    except ValueError:  # a prev_hash that is not hex
        recomputed = ""
    if recomputed != record.hash:
        return Verdict(False, HASH_PROBLEM)
    columns = _columns_problem(linked)
    if columns is not None:
        return Verdict(False, columns)
    following = record.sequence_number + 1
    if linked.next_prev_hash is None and not linked.is_last:
        return Verdict(
            False, f"the next event ({following}) is missing, so nothing vouches for this one"
        )
    if linked.next_prev_hash is not None and linked.next_prev_hash != record.hash:
        return Verdict(
            False,
            f"the next event ({following}) committed to another hash: this event was altered "
            "and its hash recomputed, or events after it were removed",
        )
    return VERIFIED


def verdicts(store: EventStore, sequences: Iterable[int | None]) -> dict[int, Verdict]:
    """A verdict for each of these sequence numbers, in one store query."""
    wanted = {s for s in sequences if s is not None}
    if not wanted:
        return {}
    linked = store.linked_records(wanted)
    return {s: verdict(linked[s]) if s in linked else NOT_STORED for s in wanted}


def mark_documents(store: EventStore, documents: Iterable[dict[str, Any]]) -> None:
    """Add `verified` and `problem` to every document that has a `sequence_number` (in place),
    with one store query for all of them."""
    shown = [d for d in documents if d.get("sequence_number") is not None]
    found = verdicts(store, (d["sequence_number"] for d in shown))
    for document in shown:
        document.update(found[document["sequence_number"]].to_document())


# --- the events a replay, what-if or validation report names ------------------------------------
# Those reports name a few stored events: the snapshot a replay started from, the causation chain
# of the first changed or divergent decision, the snapshots that did not match. A causation link
# gets `verified`/`problem`, a snapshot gets `chain: {verified, problem}` (its own `verified` is
# about its state). The CLI (`claire replay`, `validate`) and `POST /whatif` mark them alike.


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


__all__ = [
    "MARK",
    "NOT_STORED",
    "VERIFIED",
    "Verdict",
    "mark_documents",
    "named_events",
    "verdict",
    "verdicts",
    "vouch_named",
]
