"""Verify an export file on its own, without the database: `claire verify --export FILE`.

An export (see `claire.audit.export`) carries every event's canonical bytes, prev_hash and hash,
and a manifest with the count, the sequence range and the head hash. Checked here: each record's
hash recomputed from its bytes, the links between consecutive records, gaps (allowed only where
the manifest says the selection is not contiguous), the manifest against the records, and, for
CSV, the readable columns against the hashed event. With signed checkpoints (`checkpoints=DIR`),
every checkpoint whose sequence the export holds must carry the same hash: that is what shows
the export is part of the signed history and not a self-consistent forgery.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from claire.audit.checkpoint import read_checkpoints, verifying_public_key
from claire.audit.export import CSV_COLUMNS, read_jsonl_export
from claire.audit.verify import ChainBreak, Problem, VerifyReport, verify_export_records
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


def _check_manifest_range(report: VerifyReport, records: list[ChainRecord], manifest: Any) -> None:
    """What the manifest says about the first and last record must be what the file holds (a
    cut-off first line would otherwise pass, its successor's prev_hash starting the chain)."""
    if not isinstance(manifest, dict) or not records:
        return
    first, last = records[0], records[-1]
    expected = {
        "first_sequence": first.sequence_number,
        "last_sequence": last.sequence_number,
        "first_prev_hash": first.prev_hash,
    }
    for name, value in expected.items():
        if manifest.get(name) != value:
            report.extra_problems.append(
                f"manifest {name} is {manifest.get(name)!r} but the export holds {value!r}"
            )


def _check_against_checkpoints(
    report: VerifyReport, records: Iterable[ChainRecord], directory: Path
) -> None:
    checkpoints = read_checkpoints(directory, verifying_public_key())
    by_sequence = {r.sequence_number: r.hash for r in records}
    findings: list[dict[str, Any]] = []
    for cp in checkpoints:
        held = by_sequence.get(cp.sequence_number)
        if held is None:
            continue  # the export does not reach this checkpoint
        ok = held == cp.head_hash
        findings.append({**cp.to_document(), "ok": ok, "file": str(cp.path)})
        if ok:
            continue
        name = cp.path.name if cp.path else cp.created_at
        message = (
            f"the export's hash at sequence {cp.sequence_number} is {held[:16]}… but {name} "
            f"signed {cp.head_hash[:16]}…: the export is not the signed history"
        )
        report.extra_problems.append(message)
        if report.first_break is None or cp.sequence_number < report.first_break.sequence_number:
            report.first_break = ChainBreak(cp.sequence_number, Problem.OTHER, message)
    report.extra["checkpoints"] = {
        "directory": str(directory),
        "count": len(checkpoints),
        "covering_export": len(findings),
        "findings": findings,
    }


def verify_export_file(path: Path, *, checkpoints: Path | None = None) -> VerifyReport:
    """`claire verify --export FILE [--checkpoints DIR]`: the report for an export file.

    Raises ExportFileError when the file cannot be read as an export at all; everything else
    (bad hash, broken link, gap, manifest mismatch) is a finding in the report.
    """
    records, manifest, kind = read_export(path)
    if not records and manifest is None:
        raise ExportFileError(f"{path}: holds no export records and no manifest")
    report = verify_export_records(records, manifest)
    _check_manifest_range(report, records, manifest)
    if checkpoints is not None:
        _check_against_checkpoints(report, records, checkpoints)
    report.extra["export"] = {"file": str(path), "format": kind, "records": len(records)}
    return report
