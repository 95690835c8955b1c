"""Inclusion proofs for auditors: one event (or a trade's events) and why it is in the log.

A bundle holds, per event, its canonical bytes and its RFC 6962 audit path to the Merkle root
of its segment, and the segments' signed manifests. Checking it needs the bundle and the
trusted public key, nothing else: the manifest's signature vouches for the root, the path
leads from the event's bytes to the root. The file is canonical JSON (sorted keys, two-space
indent, UTF-8, one newline at the end), so any changed byte fails: a changed value where it
changes something, a changed layout as not canonical. Format: docs/archive.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from claire.archive.location import ArchiveError
from claire.archive.manifest import Manifest
from claire.archive.merkle import leaf_hash, root_from_path
from claire.archive.reader import ArchiveReader
from claire.archive.tiles import audit_path
from claire.audit.keys import TrustedKey, fingerprint, signature_problem
from claire.errors import NotFoundError

FORMAT = "claire-inclusion-proof"
VERSION = 1


def encode_bundle(bundle: dict[str, Any]) -> bytes:
    """The one byte form of a bundle (what the independent verifier re-creates)."""
    return (json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _proof(reader: ArchiveReader, manifest: Manifest, sequence: int) -> dict[str, Any]:
    segment = reader.segment(manifest)
    index = sequence - manifest.first_sequence
    height = manifest.tile_height
    tile_first = manifest.first_sequence + ((index >> height) << height)
    tile_last = min(tile_first + (1 << height) - 1, manifest.last_sequence)
    canonical: dict[int, bytes] = {}
    for table in segment.groups(tile_first, tile_last, ["canonical"]):
        canonical.update(
            zip(
                table.column("sequence_number").to_pylist(),
                table.column("canonical").to_pylist(),
                strict=True,
            )
        )
    leaves = [leaf_hash(canonical[s]) for s in range(tile_first, tile_last + 1)]
    path = audit_path(leaves, index, segment.nodes, height)
    return {
        "sequence_number": sequence,
        "segment": manifest.first_sequence,
        "leaf_index": index,
        "tree_size": manifest.count,
        "audit_path": [node.hex() for node in path],
        "canonical": canonical[sequence].decode(),
    }


def make_bundle(reader: ArchiveReader, sequences: list[int]) -> dict[str, Any]:
    """The proof bundle of archived sequences (NotFoundError for one not sealed)."""
    manifests: dict[int, Manifest] = {}
    proofs = []
    for sequence in sorted(set(sequences)):
        manifest = reader.catalog.segment_of(sequence)
        if manifest is None:
            raise NotFoundError(
                f"sequence {sequence} is not sealed (the archive ends at "
                f"{reader.catalog.last_sequence}): proofs are made against a segment's signed "
                f"Merkle root; seal it first (claire archive seal --through {sequence})"
            )
        manifests[manifest.first_sequence] = manifest
        proofs.append(_proof(reader, manifest, sequence))
    return {
        "format": FORMAT,
        "version": VERSION,
        "manifests": {str(k): m.to_document() for k, m in sorted(manifests.items())},
        "events": proofs,
    }


def sequences_of(reader: ArchiveReader, field_name: str, key: UUID) -> list[int]:
    found = reader.lookup(field_name, key)
    if not found:
        raise NotFoundError(f"no sealed event has {field_name} {key}")
    return found


# --- checking a bundle (offline) ----------------------------------------------------------------


@dataclass(slots=True)
class ProofReport:
    events: list[dict[str, Any]] = field(default_factory=list)  # the proven events
    problems: list[str] = field(default_factory=list)
    signed_by: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.events)

    def to_document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signed_by": self.signed_by,
            "events": self.events,
            "problems": list(self.problems),
        }


def _first_difference(data: bytes, canonical: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b),
        min(len(data), len(canonical)),
    )
    line = data[:at].count(b"\n") + 1
    column = at - (data.rfind(b"\n", 0, at) + 1) + 1
    return f"byte {at} (line {line}, column {column})"


def check_bundle(data: bytes, trusted: TrustedKey) -> ProofReport:
    """Check a proof bundle against the trusted key; every problem says where it is."""
    report = ProofReport()
    try:
        bundle = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"not a proof bundle: not JSON ({exc})")
        return report
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        report.problems.append(f"not a proof bundle: format is not {FORMAT!r}")
        return report
    if bundle.get("version") != VERSION:
        report.problems.append(f"proof format version {bundle.get('version')!r} is not supported")
        return report
    roots = _check_manifests(bundle.get("manifests"), trusted, report)
    events = bundle.get("events")
    if not isinstance(events, list) or not events:
        report.problems.append("events: the bundle proves no event")
        return report
    for number, proof in enumerate(events):
        _check_event(number, proof, roots, report)
    if not report.problems and encode_bundle(bundle) != data:
        report.problems.append(
            "the file is not in its canonical form (sorted keys, two-space indent, one final "
            f"newline): it was changed at {_first_difference(data, encode_bundle(bundle))}"
        )
    return report


def _check_manifests(
    manifests: Any, trusted: TrustedKey, report: ProofReport
) -> dict[str, dict[str, Any]]:
    """The manifests signed by the trusted key, by their key in the bundle."""
    good: dict[str, dict[str, Any]] = {}
    if not isinstance(manifests, dict) or not manifests:
        report.problems.append("manifests: the bundle holds no signed manifest")
        return good
    for name, manifest in manifests.items():
        where = f"manifests[{name}]"
        if not isinstance(manifest, dict):
            report.problems.append(f"{where}: not a JSON object")
            continue
        problem = signature_problem(manifest, trusted)
        if problem is not None:
            report.problems.append(
                f"{where} (segment {manifest.get('first_sequence')}..): {problem}"
            )
            continue
        good[name] = manifest
        report.signed_by = fingerprint(trusted.public_key)
    return good


def _check_event(
    number: int, proof: Any, roots: dict[str, dict[str, Any]], report: ProofReport
) -> None:
    where = f"events[{number}]"
    try:
        sequence = int(proof["sequence_number"])
        where = f"events[{number}] (sequence {sequence})"
        manifest = roots.get(str(proof["segment"]))
        if manifest is None:
            report.problems.append(
                f"{where}: its segment's manifest is not signed by the trusted key"
            )
            return
        data = str(proof["canonical"]).encode()
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(node)) for node in proof["audit_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"{where}: malformed ({exc})")
        return
    first = int(manifest["first_sequence"])
    if size != int(manifest["count"]) or index != sequence - first:
        report.problems.append(
            f"{where}: leaf {index} of {size} is not sequence {sequence} of the signed segment "
            f"{first}..{manifest['last_sequence']}"
        )
        return
    root = root_from_path(leaf_hash(data), index, size, path)
    if root is None or root.hex() != manifest["merkle_root"]:
        report.problems.append(
            f"{where}: its canonical bytes and audit path do not lead to the signed Merkle root "
            f"{str(manifest['merkle_root'])[:16]}… (the event or its path was changed)"
        )
        return
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        report.problems.append(f"{where}: the proven bytes are not a JSON event")
        return
    report.events.append({"sequence_number": sequence, "event": event})


def proven_summary(report: ProofReport) -> list[str]:
    lines = []
    for item in report.events:
        event = item["event"]
        lines.append(
            f"sequence {item['sequence_number']}: {event.get('event_type')} "
            f"{event.get('event_id')} at {event.get('timestamp_utc')}"
        )
    return lines


__all__ = [
    "FORMAT",
    "VERSION",
    "ArchiveError",
    "ProofReport",
    "check_bundle",
    "encode_bundle",
    "make_bundle",
    "proven_summary",
    "sequences_of",
]
