"""Walk the hash chain and the sequence, and name the first record where either breaks.

`check_chain` works on any stream of ChainRecords, so the same checks run on a database
(`verify_log`) and on records read back from an export file; further checks (signed
checkpoints) add their findings to the same VerifyReport.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claire.errors import NotFoundError
from claire.events.codec import GENESIS_HASH, chain_hash
from claire.store.port import ChainRecord, EventStore


class Problem(StrEnum):
    MISSING = "missing"  # a sequence number is skipped (a deleted event)
    OUT_OF_ORDER = "out_of_order"  # a sequence number repeats or goes back
    PREV_HASH = "prev_hash_mismatch"  # prev_hash is not the previous record's hash
    HASH = "hash_mismatch"  # hash != SHA-256(prev_hash || canonical bytes)
    COLUMNS = "columns_mismatch"  # the row's columns disagree with the hashed bytes
    OTHER = "other"  # found by an additional check (e.g. a checkpoint)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the log is not what its chain says."""

    sequence_number: int
    problem: Problem
    message: str

    def to_document(self) -> dict[str, Any]:
        return {
            "sequence_number": self.sequence_number,
            "problem": self.problem.value,
            "message": self.message,
        }


@dataclass(slots=True)
class VerifyReport:
    """What was checked and the first break, if any. `extra` holds added checks' findings."""

    from_sequence: int
    checked: int = 0
    last_sequence: int | None = None
    last_hash: str | None = None
    first_break: ChainBreak | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    extra_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.extra_problems

    def to_document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "from_sequence": self.from_sequence,
            "checked": self.checked,
            "head_sequence": self.last_sequence,
            "head_hash": self.last_hash,
            "first_break": self.first_break.to_document() if self.first_break else None,
            "problems": list(self.extra_problems),
            **self.extra,
        }


def check_record(record: ChainRecord, expected_sequence: int, prev_hash: str) -> ChainBreak | None:
    """Check one record against the sequence and hash the chain expects at this point."""
    seq = record.sequence_number
    if seq > expected_sequence:
        missing = (
            f"sequence {expected_sequence} is missing"
            if seq == expected_sequence + 1
            else f"sequences {expected_sequence}..{seq - 1} are missing"
        )
        return ChainBreak(expected_sequence, Problem.MISSING, f"{missing} (next stored is {seq})")
    if seq < expected_sequence:
        return ChainBreak(
            seq,
            Problem.OUT_OF_ORDER,
            f"sequence {seq} comes after {expected_sequence - 1} (out of order or repeated)",
        )
    if record.prev_hash != prev_hash:
        return ChainBreak(
            seq,
            Problem.PREV_HASH,
            f"prev_hash {record.prev_hash[:16]}… is not the previous hash {prev_hash[:16]}…",
        )
    recomputed = chain_hash(prev_hash, record.canonical)
    if recomputed != record.hash:
        return ChainBreak(
            seq,
            Problem.HASH,
            f"stored hash {record.hash[:16]}… but the event's bytes hash to {recomputed[:16]}… "
            "(the event was altered)",
        )
    if record.columns_canonical() != record.canonical:
        return ChainBreak(
            seq,
            Problem.COLUMNS,
            f"event {record.event_id}: its columns (payload/metadata/...) differ from the "
            "hashed event (a column was edited)",
        )
    return None


def check_chain(
    records: Iterable[ChainRecord],
    *,
    from_sequence: int = 1,
    prev_hash: str = GENESIS_HASH,
    report: VerifyReport | None = None,
) -> VerifyReport:
    """Check records in order, starting at `from_sequence` whose predecessor has `prev_hash`."""
    report = report or VerifyReport(from_sequence)
    report.last_sequence, report.last_hash = from_sequence - 1, prev_hash
    expected = from_sequence
    for record in records:
        broken = check_record(record, expected, prev_hash)
        if broken is not None:
            report.first_break = broken
            return report
        report.checked += 1
        report.last_sequence, report.last_hash = record.sequence_number, record.hash
        prev_hash, expected = record.hash, record.sequence_number + 1
    return report


def verify_log(
    store: EventStore, from_sequence: int = 1, to_sequence: int | None = None
) -> VerifyReport:
    """Verify the stored chain from `from_sequence` (the prev hash taken from the record before)."""
    if from_sequence < 1:
        raise ValueError(f"from_sequence must be 1 or more, got {from_sequence}")
    prev_hash = GENESIS_HASH
    if from_sequence > 1:
        head = store.head().sequence_number
        if head < from_sequence:
            raise NotFoundError(f"--from-sequence {from_sequence}: the log ends at sequence {head}")
        before = next(store.iter_records(from_sequence - 1, from_sequence - 1), None)
        if before is None:
            report = VerifyReport(from_sequence)
            report.first_break = ChainBreak(
                from_sequence - 1,
                Problem.MISSING,
                f"sequence {from_sequence - 1} is missing (needed for the previous hash)",
            )
            return report
        prev_hash = before.hash
    records = store.iter_records(from_sequence, to_sequence)
    return check_chain(records, from_sequence=from_sequence, prev_hash=prev_hash)


def verify_export_records(
    records: list[ChainRecord], manifest: dict[str, Any] | None
) -> VerifyReport:
    """Check an export on its own: every record's hash, the links between consecutive
    records, and the manifest's count and head hash. Gaps are allowed only when the manifest
    says the selection was not contiguous (a correlation or time range)."""
    report = VerifyReport(records[0].sequence_number if records else 1)
    contiguous = bool(manifest.get("contiguous", True)) if manifest else True
    for segment in _segments(records, contiguous):
        checked = check_chain(
            segment,
            from_sequence=segment[0].sequence_number,
            prev_hash=segment[0].prev_hash,
            report=VerifyReport(segment[0].sequence_number),
        )
        report.checked += checked.checked
        report.last_sequence, report.last_hash = checked.last_sequence, checked.last_hash
        if checked.first_break is not None:
            report.first_break = checked.first_break
            return report
    _check_manifest(report, records, manifest)
    return report


def _segments(records: list[ChainRecord], contiguous: bool) -> list[list[ChainRecord]]:
    """Runs of consecutive sequence numbers; one run when the export claims to be contiguous
    (so `check_chain` names any gap). A run that starts lower than the last one ended keeps
    the record, and `check_chain` reports it as out of order."""
    if contiguous:
        return [records] if records else []
    segments: list[list[ChainRecord]] = []
    for record in records:
        if segments and record.sequence_number <= segments[-1][-1].sequence_number + 1:
            segments[-1].append(record)
        else:
            segments.append([record])
    return segments


def _check_manifest(
    report: VerifyReport, records: list[ChainRecord], manifest: dict[str, Any] | None
) -> None:
    if manifest is None:
        report.extra_problems.append("the export has no manifest line (truncated?)")
        return
    if manifest.get("count") != len(records):
        report.extra_problems.append(
            f"manifest counts {manifest.get('count')} events but the export holds {len(records)}"
        )
    if records and manifest.get("head_hash") != records[-1].hash:
        report.extra_problems.append("manifest head_hash is not the last record's hash")
    report.extra["manifest"] = manifest
