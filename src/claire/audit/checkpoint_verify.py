"""`claire verify --checkpoints DIR`: are the checkpoints ours, whole, and still true of the log?

Three questions, each answered in the report:

1. Whose signatures? Only checkpoints signed by the trusted key count (`claire.audit.keys`); a
   file signed by any other key, edited after signing, or unreadable is a problem, named with
   the file and (for another key) that key's fingerprint.
2. Is the directory whole? Checkpoints chain (`number`, `previous` digest): a missing number is a
   deleted file, a `previous` that does not match is a replaced file, two files with one number
   or two different hashes for one sequence contradict each other. The newest file has no
   successor to miss it, so the verifier remembers the newest checkpoint it has seen per key and
   directory (the witness file): if a later run finds it gone, the newest checkpoints were
   deleted or the directory was swapped for an older copy.
3. Does the log still hold what was signed? Every trusted checkpoint's sequence must be in the
   log with the signed hash; the first sequence no longer vouched for becomes the report's break.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from claire.audit.checkpoint import Checkpoint, CheckpointError, read_directory
from claire.audit.keys import TrustedKey, signature_problem
from claire.audit.verify import ChainBreak, Problem, VerifyReport, verify_log
from claire.events.codec import GENESIS_HASH
from claire.store.port import EventStore

WITNESS_ENV = "CLAIRE_CHECKPOINT_WITNESS"


def default_witness_path() -> Path:
    """Where a verifier remembers the newest checkpoints it saw: CLAIRE_CHECKPOINT_WITNESS,
    else $XDG_STATE_HOME/claire/checkpoint-witness.json (default ~/.local/state)."""
    if os.environ.get(WITNESS_ENV):
        return Path(os.environ[WITNESS_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "claire" / "checkpoint-witness.json"


@dataclass(slots=True)
class CheckpointSet:
    """The trusted checkpoints of a directory and everything wrong with the directory."""

    directory: Path
    trusted_key: TrustedKey
    checkpoints: list[Checkpoint] = field(default_factory=list)  # trusted, by number/sequence
    problems: list[str] = field(default_factory=list)

    @property
    def newest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def summary(self) -> str:
        """ "4 checkpoints signed by key ed25519:…, newest at sequence 20"."""
        count = len(self.checkpoints)
        noun = "checkpoint" if count == 1 else "checkpoints"
        text = f"{count} {noun} signed by key {self.trusted_key.fingerprint}"
        newest = self.newest
        return f"{text}, newest at sequence {newest.sequence_number}" if newest else text

    def to_document(self) -> dict[str, Any]:
        newest = self.newest
        return {
            "directory": str(self.directory),
            "trusted_key": self.trusted_key.to_document(),
            "count": len(self.checkpoints),
            "newest": newest.to_document() if newest else None,
            "summary": self.summary(),
            "problems": list(self.problems),
        }


def _order(checkpoint: Checkpoint) -> tuple[int, int, str]:
    return (checkpoint.number or 0, checkpoint.sequence_number, checkpoint.created_at)


def check_directory(
    directory: Path, trusted: TrustedKey, *, witness: Path | None = None
) -> CheckpointSet:
    """Read DIRECTORY, keep the checkpoints signed by `trusted`, and name every problem."""
    result = CheckpointSet(directory, trusted)
    for item in read_directory(directory):
        if item.checkpoint is None:
            result.problems.append(f"{item.path.name}: {item.problem}")
            continue
        problem = signature_problem(item.checkpoint.statement, trusted)
        if problem is not None:
            result.problems.append(f"{item.path.name}: {problem}")
        else:
            result.checkpoints.append(item.checkpoint)
    result.checkpoints.sort(key=_order)
    if not result.checkpoints:
        result.problems.append(
            f"no checkpoint in {directory} is signed by the trusted key {trusted.fingerprint} "
            "(write them with `claire checkpoint --dir`)"
        )
    result.problems.extend(_chain_problems(result.checkpoints))
    if witness is not None:
        result.problems.extend(_witness(witness, result))
    return result


def _chain_problems(checkpoints: list[Checkpoint]) -> list[str]:
    """Deleted, replaced or contradicting checkpoints among the trusted ones."""
    problems: list[str] = []
    by_sequence: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        other = by_sequence.setdefault(cp.sequence_number, cp)
        if other.head_hash != cp.head_hash:
            problems.append(
                f"{other.label} and {cp.label} contradict each other: sequence "
                f"{cp.sequence_number} signed as {other.head_hash[:16]}… and {cp.head_hash[:16]}…"
            )
    numbered = [cp for cp in checkpoints if cp.number is not None]
    by_number: dict[int, list[Checkpoint]] = {}
    for cp in numbered:
        by_number.setdefault(cp.number or 0, []).append(cp)
    for number, same in sorted(by_number.items()):
        if len({cp.digest for cp in same}) > 1:
            names = " and ".join(cp.name for cp in same)
            problems.append(f"{names} are both checkpoint #{number}: one replaced the original")
        for cp in same:
            problems.extend(_link_problems(cp, by_number.get(number - 1, [])))
    return problems


def _link_problems(cp: Checkpoint, before: list[Checkpoint]) -> list[str]:
    if cp.number is None or cp.number <= 1:
        return []
    if not before:
        return [
            f"{cp.label} follows checkpoint #{cp.number - 1}, which is not in the directory "
            "(deleted)"
        ]
    match = [p for p in before if p.digest == cp.previous]
    if not match:
        names = ", ".join(p.name for p in before)
        return [
            f"{cp.label} does not follow checkpoint #{cp.number - 1} ({names}): the file it "
            "followed was replaced"
        ]
    if cp.sequence_number < match[0].sequence_number:
        return [
            f"{cp.label} signs sequence {cp.sequence_number}, below the "
            f"{match[0].sequence_number} of checkpoint #{cp.number - 1}: the log went back "
            "between them (tail cut or an older backup restored)"
        ]
    return []


def _witness(path: Path, result: CheckpointSet) -> list[str]:
    """Compare with the newest checkpoint this verifier saw before; remember the newest now."""
    entry_key = f"{result.trusted_key.fingerprint} {result.directory.resolve()}"
    try:
        seen: dict[str, Any] = orjson.loads(path.read_bytes()) if path.exists() else {}
        if not isinstance(seen, dict):
            raise ValueError("expected a JSON object")
    except (OSError, ValueError) as exc:
        return [f"witness file {path} is unreadable ({exc}); move it away to start afresh"]
    problems: list[str] = []
    before = seen.get(entry_key)
    held = {cp.digest for cp in result.checkpoints}
    if isinstance(before, dict) and before.get("digest") not in held:
        problems.append(
            f"checkpoint #{before.get('number')} at sequence {before.get('sequence_number')} "
            f"({before.get('file')}), which this verifier saw on an earlier run, is gone: the "
            "newest checkpoints were deleted or the directory was replaced by an older copy"
        )
    newest = result.newest
    seen_at = (
        (before.get("number") or 0, before.get("sequence_number") or 0)
        if isinstance(before, dict)
        else (-1, -1)
    )
    if newest is not None and (newest.number or 0, newest.sequence_number) > seen_at:
        seen[entry_key] = {
            "number": newest.number,
            "sequence_number": newest.sequence_number,
            "digest": newest.digest,
            "file": newest.name,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(seen, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        temporary.replace(path)
    return problems


# --- the log against the checkpoints -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointFinding:
    checkpoint: Checkpoint
    ok: bool
    problem: str | None

    def to_document(self) -> dict[str, Any]:
        return {**self.checkpoint.to_document(), "ok": self.ok, "problem": self.problem}


def check_against_log(store: EventStore, checkpoints: list[Checkpoint]) -> list[CheckpointFinding]:
    """Does the log still hold each checkpoint's sequence with the same hash? (One query.)"""
    head = store.head()
    held = store.linked_records(
        {cp.sequence_number for cp in checkpoints if 0 < cp.sequence_number <= head.sequence_number}
    )
    findings: list[CheckpointFinding] = []
    for cp in checkpoints:
        if cp.sequence_number == 0:
            findings.append(CheckpointFinding(cp, True, None))
            continue
        if head.sequence_number < cp.sequence_number:
            findings.append(
                CheckpointFinding(
                    cp,
                    False,
                    f"log ends at sequence {head.sequence_number} but checkpoint {cp.created_at} "
                    f"covers {cp.sequence_number}: tail truncated or an older backup restored",
                )
            )
            continue
        found = held.get(cp.sequence_number)
        record = found.record if found is not None else None
        if record is None:
            findings.append(
                CheckpointFinding(cp, False, f"sequence {cp.sequence_number} is missing")
            )
        elif record.hash != cp.head_hash:
            findings.append(
                CheckpointFinding(
                    cp,
                    False,
                    f"hash at sequence {cp.sequence_number} is {record.hash[:16]}… but the "
                    f"checkpoint signed {cp.head_hash[:16]}…: history up to it was rewritten",
                )
            )
        else:
            findings.append(CheckpointFinding(cp, True, None))
    return findings


def _first_unvouched(findings: list[CheckpointFinding], head_sequence: int) -> ChainBreak | None:
    """The earliest sequence the failed checkpoints no longer vouch for.

    A rewrite is only known to lie after the last checkpoint that still matches and at or before
    the first that does not, so the break names the first sequence of that range.
    """
    last_good = 0
    for finding in sorted(findings, key=lambda f: f.checkpoint.sequence_number):
        cp = finding.checkpoint
        if finding.ok:
            last_good = max(last_good, cp.sequence_number)
            continue
        where = f"checkpoint {cp.label}"
        if head_sequence < cp.sequence_number:
            first = max(head_sequence, last_good) + 1
            return ChainBreak(
                first,
                Problem.MISSING,
                f"sequences {first}..{cp.sequence_number} are missing: the log ends at "
                f"{head_sequence} but {where} signed {cp.sequence_number} "
                "(tail truncated or an older backup restored)",
            )
        first = last_good + 1
        return ChainBreak(
            first,
            Problem.OTHER,
            f"history between sequence {first} and {cp.sequence_number} was rewritten: "
            f"{finding.problem} ({where}; the last matching checkpoint is at {last_good})",
        )
    return None


def _hash_before(store: EventStore, sequence: int) -> str | None:
    """The stored hash of the row before `sequence` (the end of the intact range)."""
    if sequence <= 1:
        return GENESIS_HASH
    record = next(store.iter_records(sequence - 1, sequence - 1), None)
    return record.hash if record else None


def add_checkpoint_findings(
    report: VerifyReport,
    store: EventStore,
    directory: Path,
    trusted: TrustedKey,
    *,
    witness: Path | None = None,
) -> VerifyReport:
    """Check the log against the trusted checkpoints in DIRECTORY; add the findings to `report`.

    The chain shows that no stored event was edited in place; the checkpoints show that the log
    still holds what was signed (no truncated tail, no history rewritten with recomputed hashes,
    no older backup). The report's break becomes the checkpoints' if that is earlier.
    """
    checked = check_directory(directory, trusted, witness=witness)
    head = store.head()
    findings = check_against_log(store, checked.checkpoints)
    newest = checked.newest
    report.extra["checkpoints"] = {
        **checked.to_document(),
        "uncovered": (
            {"from_sequence": newest.sequence_number + 1, "to_sequence": head.sequence_number}
            if newest is not None and head.sequence_number > newest.sequence_number
            else None
        ),
        "findings": [f.to_document() for f in findings],
    }
    report.extra_problems.extend(checked.problems)
    for finding in findings:
        if not finding.ok:
            report.extra_problems.append(f"{finding.checkpoint.label}: {finding.problem}")
    broken = _first_unvouched(findings, head.sequence_number)
    if broken is not None:
        report.break_at(broken, _hash_before(store, broken.sequence_number))
    return report


def verify_with_checkpoints(
    store: EventStore,
    directory: Path,
    trusted: TrustedKey,
    from_sequence: int = 1,
    *,
    witness: Path | None = None,
) -> VerifyReport:
    """`claire verify --checkpoints DIR` in one call: the chain walk, then the checkpoints."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    report = verify_log(store, from_sequence)
    return add_checkpoint_findings(report, store, directory, trusted, witness=witness)


__all__ = [
    "WITNESS_ENV",
    "CheckpointFinding",
    "CheckpointSet",
    "add_checkpoint_findings",
    "check_against_log",
    "check_directory",
    "default_witness_path",
    "verify_with_checkpoints",
]
