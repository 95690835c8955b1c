"""Comparing the decisions two runs made on one input, position by position.

The expected side is what was recorded (validate, what-if) or what another pipeline decided
(diff-versions); the other side is what the pipeline under test decided. Every field counts
except event_id, sequence_number, timestamp_utc and the fields a caller ignores; a replayed
causation_id is first mapped to the expected event its cause corresponds to (replayed ids are
new). A missing or an extra decision is a divergence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from claire.events.model import BaseEvent
from claire.replay.diff import FieldDifference, event_diff


@dataclass(frozen=True, slots=True)
class ChainLink:
    event_type: str
    sequence_number: int | None
    event_id: str

    def to_document(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "sequence_number": self.sequence_number,
            "event_id": self.event_id,
        }


@dataclass(slots=True)
class Divergence:
    """One decision where the replay and the recording (or the other version) disagree.

    kind: "changed" (both exist, fields differ), "missing" (expected, not replayed), "extra"
    (replayed, not expected; `sequence_number` is where it would have been stored) or "error"
    (the pipeline raised on the input at `sequence_number`). A decision that was never stored
    (another version's) has the sequence of its input and no `recorded_event_id`.
    """

    kind: str
    sequence_number: int
    event_type: str
    input_sequence: int
    differences: list[FieldDifference]
    recorded_event_id: str | None = None
    replayed_causation: str | None = None
    causation_chain: list[ChainLink] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sequence_number": self.sequence_number,
            "event_type": self.event_type,
            "input_sequence": self.input_sequence,
            "recorded_event_id": self.recorded_event_id,
            "differences": [d.to_document() for d in self.differences],
            "causation_chain": [c.to_document() for c in self.causation_chain],
        }


def compare_decisions(
    source: BaseEvent,
    expected: list[BaseEvent],
    replayed: list[BaseEvent],
    ignore: tuple[str, ...],
) -> tuple[int, list[Divergence]]:
    """How many of the decisions made on the input `source` match, and each divergence."""
    matched = 0
    divergences: list[Divergence] = []
    mapping: dict[UUID, UUID] = {source.event_id: source.event_id}
    input_sequence = source.sequence_number or 0
    position = expected[-1].sequence_number if expected else None
    for index in range(max(len(replayed), len(expected))):
        made = replayed[index] if index < len(replayed) else None
        wanted = expected[index] if index < len(expected) else None
        if made is not None and wanted is not None:
            cause = _mapped(mapping, made.causation_id)
            mapping[made.event_id] = wanted.event_id
            if _same(wanted, made, cause, ignore):
                matched += 1
                continue
            differences = event_diff(wanted, made, replayed_causation=cause, ignore=ignore)
            if not differences:
                matched += 1
                continue
            divergences.append(_divergence("changed", wanted, input_sequence, differences))
        elif wanted is not None:
            missing = [FieldDifference("event", wanted.event_type.value, None)]
            divergences.append(_divergence("missing", wanted, input_sequence, missing))
        elif made is not None:
            base = position if position is not None else input_sequence
            divergences.append(
                Divergence(
                    "extra",
                    base + index - len(expected) + 1,
                    made.event_type.value,
                    input_sequence,
                    [FieldDifference("event", None, made.event_type.value)],
                    replayed_causation=_mapped(mapping, made.causation_id),
                )
            )
    return matched, divergences


def _divergence(
    kind: str, expected: BaseEvent, input_sequence: int, differences: list[FieldDifference]
) -> Divergence:
    stored = expected.sequence_number
    return Divergence(
        kind,
        stored if stored is not None else input_sequence,
        expected.event_type.value,
        input_sequence,
        differences,
        recorded_event_id=str(expected.event_id) if stored is not None else None,
    )


def _mapped(mapping: dict[UUID, UUID], cause: UUID | None) -> str | None:
    if cause is None:
        return None
    found = mapping.get(cause)
    # A cause the expected side has no counterpart for can never equal an expected id.
    return str(found) if found is not None else f"replayed:{cause}"


def _same(expected: BaseEvent, made: BaseEvent, cause: str | None, ignore: tuple[str, ...]) -> bool:
    """Fast path: equal on every compared field without building field-by-field diffs."""
    if any(not name.startswith("metadata.") for name in ignore):
        return False  # let the field-by-field diff decide what is ignored
    return (
        expected.event_type is made.event_type
        and expected.timestamp_logical == made.timestamp_logical
        and expected.correlation_id == made.correlation_id
        and (str(expected.causation_id) if expected.causation_id else None) == cause
        and expected.payload == made.payload
        and _metadata(expected, ignore) == _metadata(made, ignore)
    )  # a payload upcast from an old version differs in fields it never had: the diff decides


def _metadata(event: BaseEvent, ignore: tuple[str, ...]) -> dict[str, Any]:
    document = event.metadata.document
    document.pop("schema_version", None)  # how the payload is written down, not a decision
    for name in ignore:
        document.pop(name.removeprefix("metadata."), None)
    return document


__all__ = ["ChainLink", "Divergence", "compare_decisions"]
