"""Verify an export file on its own, without the database: `claire verify --export FILE`.

An export (see `claire.audit.export`) carries every event's canonical bytes, prev_hash and hash,
and a manifest signed with the checkpoint key that lists the runs of consecutive sequence
numbers, each with the prev_hash it starts from and its last hash. Checked here: the manifest's
signature against the trusted key (no manifest, an unsigned one, an edited one or one signed by
another key fails), lines not in the manifest (added), out of order or repeated, and each run
whole: every record's hash recomputed from its bytes, each linked to the one before, from the
signed prev_hash to the signed last hash (a removed, edited or re-hashed line is named), and, for
CSV, the readable columns against the hashed event. With signed checkpoints (`checkpoints=DIR`),
every checkpoint whose sequence the export holds must carry the same hash: that is what shows
the export is part of the signed history and not a self-consistent forgery.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from claire.audit.checkpoint_verify import check_directory
from claire.audit.export import CSV_COLUMNS, read_jsonl_export
from claire.audit.keys import TrustedKey, signature_problem
from claire.audit.verify import ChainBreak, Problem, VerifyReport, check_chain
from claire.errors import ClaireError
from claire.store.port import ChainRecord, columns_document


class ExportFileError(ClaireError):
    """The file is not a readable Claire export."""


def manifest_path(csv_file: Path) -> Path:
    """Where `claire export --format csv -o FILE` puts the manifest."""
    return csv_file.with_name(csv_file.name + ".manifest.json")


def _is_csv(path: Path, head: bytes) -> bool:
    header = ",".join(CSV_COLUMNS).encode()
    return path.suffix.lower() == ".csv" or head.startswith(header)


def read_csv_export(
    text: str, manifest: dict[str, Any] | None
) -> tuple[list[ChainRecord], dict[str, Any] | None]:
    """Records of a CSV export. Its readable columns are taken as the row's columns, so an edited
    event_type, time, causation or correlation cell is named as a columns mismatch."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ExportFileError(f"not a Claire CSV export: expected columns {', '.join(CSV_COLUMNS)}")
    records: list[ChainRecord] = []
    for number, row in enumerate(reader, start=2):
        try:
            event = orjson.loads(row["canonical"])
            columns = columns_document(
                event_id=row["event_id"],
                event_type=row["event_type"],
                timestamp_utc=row["timestamp_utc"],
                timestamp_logical=int(row["timestamp_logical"]),
                causation_id=row["causation_id"] or None,
                correlation_id=row["correlation_id"],
                metadata=event["metadata"],
                payload=event["payload"],
            )
            records.append(
                ChainRecord(
                    sequence_number=int(row["sequence_number"]),
                    event_id=row["event_id"],
                    prev_hash=row["prev_hash"],
                    hash=row["hash"],
                    canonical=row["canonical"].encode(),
                    columns=columns,
                )
            )
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            raise ExportFileError(f"line {number}: not an export record ({exc})") from None
    return records, manifest


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ExportFileError(f"{path}: manifest is not JSON ({exc})") from None
    manifest = document.get("manifest") if isinstance(document, dict) else None
    if not isinstance(manifest, dict):
        raise ExportFileError(f"{path}: expected {{'manifest': {{...}}}}")
    return manifest


def read_export(path: Path) -> tuple[list[ChainRecord], dict[str, Any] | None, str]:
    """(records, manifest, format) of a JSON Lines or CSV export file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportFileError(f"{path}: {exc.strerror or exc}") from None
    if _is_csv(path, data[:200]):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExportFileError(f"{path}: not UTF-8 text ({exc})") from None
        records, manifest = read_csv_export(text, _read_manifest(manifest_path(path)))
        return records, manifest, "csv"
    try:
        records, manifest = read_jsonl_export(data.splitlines())
    except ValueError as exc:
        raise ExportFileError(f"{path}: {exc}") from None
    return records, manifest, "jsonl"


def _signature(report: VerifyReport, manifest: dict[str, Any], trusted: TrustedKey) -> None:
    problem = signature_problem(manifest, trusted)
    if problem is None:
        report.extra["manifest_signed_by"] = trusted.fingerprint
        return
    if manifest.get("signature") is None:
        problem += f" (an export of format version {manifest.get('version')}: export it again)"
    report.extra_problems.append(f"manifest: {problem}")


Run = tuple[int, int, str, str]  # first and last sequence, the prev_hash, the last hash


def _runs(manifest: dict[str, Any]) -> list[Run] | None:
    """The signed runs (first, last, prev_hash, last_hash), or None when there are none."""
    try:
        return [
            (
                int(run["first_sequence"]),
                int(run["last_sequence"]),
                str(run["prev_hash"]),
                str(run["last_hash"]),
            )
            for run in manifest["runs"]
        ]
    except (KeyError, TypeError, ValueError):
        return None


def _by_run(
    records: list[ChainRecord], runs: list[Run]
) -> tuple[list[list[ChainRecord]], list[int]]:
    """The records of each run (in file order), and the lines (1-based) that are in none."""
    starts = [first for first, _, _, _ in runs]
    groups: list[list[ChainRecord]] = [[] for _ in runs]
    outside: list[int] = []
    for line, record in enumerate(records, start=1):
        index = bisect_right(starts, record.sequence_number) - 1
        if index >= 0 and record.sequence_number <= runs[index][1]:
            groups[index].append(record)
        else:
            outside.append(line)
    return groups, outside


def _outside_runs(report: VerifyReport, records: list[ChainRecord], outside: list[int]) -> None:
    """Lines the signed manifest does not list (added), lines out of order, repeated lines."""
    added = set(outside)
    seen: set[int] = set()
    previous: int | None = None
    for line, record in enumerate(records, start=1):
        seq = record.sequence_number
        if line in added:
            report.extra_problems.append(
                f"line {line}: sequence {seq} is not in the signed manifest (a line was added)"
            )
        elif seq in seen:
            report.extra_problems.append(f"line {line}: sequence {seq} appears twice")
        elif previous is not None and seq < previous:
            report.extra_problems.append(
                f"line {line}: sequence {seq} comes after {previous} (lines reordered)"
            )
        seen.add(seq)
        previous = seq


def _check_runs(report: VerifyReport, groups: list[list[ChainRecord]], runs: list[Run]) -> None:
    """Each signed run must be in the file whole: linked to its signed prev_hash, every event
    linked to the one before, ending at its signed last hash."""
    for segment, (first, last, prev_hash, last_hash) in zip(groups, runs, strict=True):
        checked = check_chain(segment, from_sequence=first, prev_hash=prev_hash, anchored=True)
        report.checked += checked.checked
        report.last_sequence, report.last_hash = checked.last_sequence, checked.last_hash
        broken = checked.first_break
        if broken is None and checked.last_sequence != last:
            end = checked.last_sequence if checked.last_sequence is not None else first - 1
            missing = end + 1
            broken = ChainBreak(
                missing,
                Problem.MISSING,
                f"sequence{'s' if missing < last else ''} "
                f"{missing if missing == last else f'{missing}..{last}'} of the signed manifest "
                f"{'are' if missing < last else 'is'} not in the file (lines removed)",
            )
        elif broken is None and checked.last_hash != last_hash:
            broken = ChainBreak(
                last,
                Problem.SUCCESSOR,
                f"sequence {last} hashes to {str(checked.last_hash)[:16]}… but the signed "
                f"manifest committed to {last_hash[:16]}… (the line was edited and its hash "
                "recomputed)",
            )
        if broken is not None:
            report.first_break = broken
            return


def verify_export_records(
    records: list[ChainRecord], manifest: dict[str, Any] | None, trusted: TrustedKey
) -> VerifyReport:
    """Check an export on its own: the manifest's signature, and every line against it."""
    report = VerifyReport(records[0].sequence_number if records else 1)
    if manifest is None:
        report.extra_problems.append(
            "no manifest: nothing signed says which events the export holds (a truncated file, "
            "or the manifest was removed)"
        )
        return report
    report.extra["manifest"] = manifest
    _signature(report, manifest, trusted)
    runs = _runs(manifest)
    if runs is None:
        report.extra_problems.append(
            "manifest: no signed runs of sequence numbers (not a v2 export)"
        )
        return report
    groups, outside = _by_run(records, runs)
    _outside_runs(report, records, outside)
    if manifest.get("count") != len(records):
        report.extra_problems.append(
            f"the signed manifest counts {manifest.get('count')} events but the file holds "
            f"{len(records)}"
        )
    _check_runs(report, groups, runs)
    return report


def _check_against_checkpoints(
    report: VerifyReport, records: Iterable[ChainRecord], directory: Path, trusted: TrustedKey
) -> None:
    checked = check_directory(directory, trusted)
    report.extra_problems.extend(checked.problems)
    by_sequence = {r.sequence_number: r.hash for r in records}
    findings: list[dict[str, Any]] = []
    for cp in checked.checkpoints:
        held = by_sequence.get(cp.sequence_number)
        if held is None:
            continue  # the export does not reach this checkpoint
        ok = held == cp.head_hash
        findings.append({**cp.to_document(), "ok": ok})
        if ok:
            continue
        message = (
            f"the export's hash at sequence {cp.sequence_number} is {held[:16]}… but "
            f"checkpoint {cp.label} signed {cp.head_hash[:16]}…: the export is not the signed "
            "history"
        )
        report.extra_problems.append(message)
        report.break_at(ChainBreak(cp.sequence_number, Problem.OTHER, message), None)
    report.extra["checkpoints"] = {
        **checked.to_document(),
        "covering_export": len(findings),
        "findings": findings,
    }


def verify_export_file(
    path: Path, trusted: TrustedKey, *, checkpoints: Path | None = None
) -> VerifyReport:
    """`claire verify --export FILE [--checkpoints DIR]`: the report for an export file.

    Raises ExportFileError when the file cannot be read as an export at all; everything else
    (bad hash, broken link, gap, manifest mismatch) is a finding in the report.
    """
    records, manifest, kind = read_export(path)
    if not records and manifest is None:
        raise ExportFileError(f"{path}: holds no export records and no manifest")
    report = verify_export_records(records, manifest, trusted)
    if checkpoints is not None:
        _check_against_checkpoints(report, records, checkpoints, trusted)
    report.extra["export"] = {"file": str(path), "format": kind, "records": len(records)}
    return report
