"""Walk the hash chain and the sequence, and name the first record that cannot be vouched for.

A row is vouched for by the chain when its hash recomputes from its prev_hash and bytes, its
columns equal its bytes, and the next row's prev_hash is its hash: the next row's own hash
covers that prev_hash, so it commits to this row's exact content. A row whose bytes were edited
and whose own hash was recomputed still passes its own checks; what gives it away is its
successor, which committed to the original. So when a row's prev_hash does not match but the
row itself is self-consistent, the row *before* it is the first one nothing vouches for (or,
when the prev_hash names an earlier row or the next one, events were inserted or swapped).

`check_chain` works on any stream of ChainRecords, so the same checks run on a database
(`verify_log`) and on records read back from an export file; further checks (signed
checkpoints, an export's manifest) add their findings to the same VerifyReport.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claire.errors import NotFoundError
from claire.events.codec import GENESIS_HASH, chain_hash
from claire.store.port import ChainRecord, EventStore

# How far back a prev_hash is looked up to recognise inserted events (hashes kept in memory).
LOOKBACK = 1024


class Problem(StrEnum):
    MISSING = "missing"  # a sequence number is skipped (a deleted event)
    OUT_OF_ORDER = "out_of_order"  # a sequence number repeats or goes back, or two rows swapped
    PREV_HASH = "prev_hash_mismatch"  # prev_hash is not the previous hash, nor covered by its hash
    HASH = "hash_mismatch"  # hash != SHA-256(prev_hash || canonical bytes)
    COLUMNS = "columns_mismatch"  # the row's columns disagree with the hashed bytes
    SUCCESSOR = "successor_mismatch"  # the next row committed to another hash (rehashed edit)
    INSERTED = "inserted"  # rows the chain skips over: the next row links to an earlier one
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
    """What was checked and the first break, if any. `extra` holds added checks' findings.

    `checked`, `last_sequence` and `last_hash` describe the intact range: it always ends before
    the first break, whichever check found it (see `break_at`).
    """

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

    def break_at(self, broken: ChainBreak, intact_hash: str | None) -> None:
        """Record `broken` unless an earlier break is known; the intact range then ends just
        before it (`intact_hash`: the hash of the row before the break, if known)."""
        known = self.first_break
        if known is not None and known.sequence_number <= broken.sequence_number:
            return
        self.first_break = broken
        before = broken.sequence_number - 1
        if self.last_sequence is None or before < self.last_sequence:
            dropped = (self.last_sequence or 0) - before if self.last_sequence is not None else 0
            self.checked = max(0, self.checked - dropped)
            self.last_sequence, self.last_hash = before, intact_hash

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


class _Walk:
    """The state of one pass along the chain: what comes next, and the recent rows' hashes."""

    def __init__(
        self, report: VerifyReport, from_sequence: int, prev_hash: str, *, anchored: bool
    ) -> None:
        self.report = report
        self.first = from_sequence
        self.anchored = anchored
        self.expected = from_sequence
        self.prev_hash = prev_hash
        # hash -> sequence of the last LOOKBACK accepted rows (and the row before the first).
        self.recent: OrderedDict[str, int] = OrderedDict({prev_hash: from_sequence - 1})
        report.last_sequence, report.last_hash = from_sequence - 1, prev_hash

    def accept(self, record: ChainRecord) -> None:
        self.report.checked += 1
        self.report.last_sequence, self.report.last_hash = record.sequence_number, record.hash
        self.prev_hash, self.expected = record.hash, record.sequence_number + 1
        self.recent[record.hash] = record.sequence_number
        if len(self.recent) > LOOKBACK:
            self.recent.popitem(last=False)

    def _hash_of(self, sequence: int) -> str | None:
        return next((h for h, s in reversed(self.recent.items()) if s == sequence), None)

    def check(self, record: ChainRecord, following: ChainRecord | None) -> ChainBreak | None:
        """The break at `record` (or, when it names an earlier row, there), else None."""
        seq = record.sequence_number
        expected = self.expected
        if seq > expected:
            missing = (
                f"sequence {expected} is missing"
                if seq == expected + 1
                else f"sequences {expected}..{seq - 1} are missing"
            )
            return ChainBreak(expected, Problem.MISSING, f"{missing} (next stored is {seq})")
        if seq < expected:
            return ChainBreak(
                expected,
                Problem.OUT_OF_ORDER,
                f"sequence {seq} appears where {expected} should (out of order or repeated)",
            )
        if record.prev_hash != self.prev_hash:
            return self._unlinked(record, following)
        recomputed = chain_hash(record.prev_hash, record.canonical)
        if recomputed != record.hash:
            return ChainBreak(
                seq,
                Problem.HASH,
                f"stored hash {record.hash[:16]}… but the event's bytes hash to "
                f"{recomputed[:16]}… (the event was altered)",
            )
        if record.columns_canonical() != record.canonical:
            return ChainBreak(
                seq,
                Problem.COLUMNS,
                f"event {record.event_id}: its columns (payload/metadata/...) differ from the "
                "hashed event (a column was edited)",
            )
        return None

    def _unlinked(self, record: ChainRecord, following: ChainRecord | None) -> ChainBreak:
        """`record` does not link to the row before it: which row is the first unvouched?"""
        seq = record.sequence_number
        seq_before = seq - 1
        if chain_hash(record.prev_hash, record.canonical) != record.hash:
            # Its own hash does not cover its prev_hash either: this row was altered.
            return ChainBreak(
                seq,
                Problem.PREV_HASH,
                f"prev_hash {record.prev_hash[:16]}… is not the previous hash "
                f"{self.prev_hash[:16]}… and the row's own hash does not cover it",
            )
        if self.anchored and seq == self.first:
            return ChainBreak(
                seq,
                Problem.PREV_HASH,
                f"prev_hash {record.prev_hash[:16]}… is not the signed {self.prev_hash[:16]}… "
                "it must link to",
            )
        if following is not None and following.hash == record.prev_hash:
            return ChainBreak(
                seq,
                Problem.OUT_OF_ORDER,
                f"sequence {seq} links to the hash of {following.sequence_number}, which comes "
                "after it: the two events were swapped",
            )
        # The row is self-consistent and commits to a predecessor whose hash is its prev_hash.
        linked = self.recent.get(record.prev_hash)
        if linked is not None and linked < seq_before:
            first = linked + 1
            rows = (
                f"sequence {first}" if first == seq_before else f"sequences {first}..{seq_before}"
            )
            broken = ChainBreak(
                first,
                Problem.INSERTED,
                f"{rows} {'is' if first == seq_before else 'are'} not part of the chain: "
                f"sequence {seq} links to {linked} (inserted)",
            )
            self.report.break_at(broken, record.prev_hash)
            return broken
        broken = ChainBreak(
            seq_before,
            Problem.SUCCESSOR,
            f"sequence {seq_before} hashes to {self.prev_hash[:16]}… but the next event "
            f"({seq}) committed to {record.prev_hash[:16]}…: {seq_before} was altered and its "
            "hash recomputed, or events after it were removed",
        )
        self.report.break_at(broken, self._hash_of(seq_before - 1))
        return broken


def check_chain(
    records: Iterable[ChainRecord],
    *,
    from_sequence: int = 1,
    prev_hash: str = GENESIS_HASH,
    report: VerifyReport | None = None,
    anchored: bool = False,
) -> VerifyReport:
    """Check records in order, starting at `from_sequence` whose predecessor has `prev_hash`.

    Each record is checked with the one after it in view (a swap shows only then). `anchored`:
    `prev_hash` is vouched for (signed), so a first record that does not link to it is at fault
    itself, not the record before it.
    """
    report = report or VerifyReport(from_sequence)
    walk = _Walk(report, from_sequence, prev_hash, anchored=anchored)
    stream = iter(records)
    current = next(stream, None)
    while current is not None:
        following = next(stream, None)
        broken = walk.check(current, following)
        if broken is not None:
            report.break_at(broken, report.last_hash)
            return report
        walk.accept(current)
        current = following
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
