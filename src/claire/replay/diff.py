"""Structured differences between two states and between two events.

State diffs have the seed's shape, one entry per section that differs, each side holding only
the fields that differ: {"risk_state": {"replay1": {"equity": "..."}, "replay2": {...}}}.
Event diffs list each differing field (dotted path) with the recorded and replayed values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claire.events.codec import canonical_document
from claire.events.model import BaseEvent
from claire.events.versions import VERSIONS

ABSENT = "<absent>"

# The account figures the seed shows together as "risk_state"; everything else in the state
# document is a section of its own (positions, open_orders, last_prices, history, counters...).
RISK_STATE_FIELDS = (
    "starting_equity",
    "equity",
    "day",
    "day_start_equity",
    "daily_pnl",
    "fees_paid",
)

# Fields a decision comparison never looks at: the store assigns them, or (timestamp_utc) they
# are for people only.
IGNORED_EVENT_FIELDS = ("event_id", "sequence_number", "timestamp_utc")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {"a.b.c": leaf}; lists and scalars are leaves."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key in sorted(value):
            flat.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _sections(document: Mapping[str, Any]) -> dict[str, Any]:
    risk = {k: document.get(k) for k in RISK_STATE_FIELDS}
    rest = {k: v for k, v in document.items() if k not in RISK_STATE_FIELDS}
    return {"risk_state": risk, **rest}


def state_diff(
    first: Mapping[str, Any],
    second: Mapping[str, Any],
    first_label: str = "replay1",
    second_label: str = "replay2",
) -> dict[str, dict[str, dict[str, Any]]]:
    """Differences between two state documents, per section, in the seed's shape."""
    left, right = _sections(first), _sections(second)
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for section in _ordered_union(left, right):
        a = flatten(left.get(section))
        b = flatten(right.get(section))
        changed = [k for k in _ordered_union(a, b) if a.get(k, ABSENT) != b.get(k, ABSENT)]
        if changed:
            result[section] = {
                first_label: {_field(k): a.get(k, ABSENT) for k in changed},
                second_label: {_field(k): b.get(k, ABSENT) for k in changed},
            }
    return result


def _field(path: str) -> str:
    return path or "value"


def _ordered_union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """Keys of both, in a stable order (first's order, then the second's new keys)."""
    seen: dict[str, None] = dict.fromkeys(a)
    seen.update(dict.fromkeys(b))
    return list(seen)


@dataclass(frozen=True, slots=True)
class FieldDifference:
    field: str
    recorded: Any
    replayed: Any

    def to_document(self) -> dict[str, Any]:
        return {"field": self.field, "recorded": self.recorded, "replayed": self.replayed}


def comparable_document(event: BaseEvent) -> dict[str, Any]:
    """The canonical document of an event without the fields a comparison ignores: those above,
    the schema version (how the payload was written down, not what was decided: an event read
    from an old version holds the current version's payload), and the payload fields the
    version the event was stored in did not have (upcasting filled them in; nothing was
    decided about them)."""
    document = canonical_document(event)
    for name in IGNORED_EVENT_FIELDS:
        document.pop(name, None)
    document["metadata"].pop("schema_version", None)
    unrecorded = VERSIONS.fields_since(event.event_type, event.stored_schema_version)
    if unrecorded:
        document["payload"] = {k: v for k, v in document["payload"].items() if k not in unrecorded}
    return document


def unrecorded_fields(event: BaseEvent) -> frozenset[str]:
    """The payload fields `event`'s stored schema version did not have (see above)."""
    return VERSIONS.fields_since(event.event_type, event.stored_schema_version)


def event_diff(
    recorded: BaseEvent,
    replayed: BaseEvent,
    *,
    replayed_causation: str | None,
    ignore: Iterable[str] = (),
) -> list[FieldDifference]:
    """Each field where the replayed decision differs from the recorded one.

    `replayed_causation` is the replayed event's causation id already mapped to the recorded
    event it corresponds to (replayed ids are new, so they cannot be compared directly).
    """
    left = flatten(comparable_document(recorded))
    replayed_document = comparable_document(replayed)
    unrecorded = unrecorded_fields(recorded)
    if unrecorded:  # the recorded version had no say on them, so neither side counts
        replayed_document["payload"] = {
            k: v for k, v in replayed_document["payload"].items() if k not in unrecorded
        }
    replayed_document["causation_id"] = replayed_causation
    right = flatten(replayed_document)
    skipped = set(ignore)
    return [
        FieldDifference(key, left.get(key, ABSENT), right.get(key, ABSENT))
        for key in _ordered_union(left, right)
        if key not in skipped and left.get(key, ABSENT) != right.get(key, ABSENT)
    ]


__all__ = [
    "ABSENT",
    "IGNORED_EVENT_FIELDS",
    "FieldDifference",
    "comparable_document",
    "event_diff",
    "flatten",
    "state_diff",
    "unrecorded_fields",
]
