"""Inclusion proofs for auditors: one event (or a trade's events) and why it is in the log.

A bundle holds, per event, its canonical bytes and its RFC 6962 audit path to a signed Merkle
root: its segment's (a sealed event; the signed manifest) or a signed checkpoint's tree over the
hot range (an event not sealed yet; see `claire.audit.checkpoint`). Checking it needs the bundle
and the trusted public key, nothing else: the signature vouches for the root, the path leads
from the event's bytes to the root. The file is canonical JSON (sorted keys, two-space
indent, UTF-8, one newline at the end), so any changed byte fails: a changed value where it
changes something, a changed layout as not canonical. Format: docs/archive.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from claire.archive.location import ArchiveError
from claire.archive.manifest import TILE_HEIGHT, Manifest
from claire.archive.merkle import leaf_hash, root_from_path
from claire.archive.reader import ArchiveReader
from claire.archive.tiles import audit_path, segment_root
from claire.audit.checkpoint import PAGE_ROWS, Checkpoint, CheckpointError, read_directory
from claire.audit.keys import TrustedKey, fingerprint, signature_problem
from claire.errors import NotFoundError
from claire.store.port import EventStore

FORMAT = "claire-inclusion-proof"
# 1: sealed events only (`manifests`); 2: also events proven against a signed checkpoint
# (`checkpoints`). A bundle of sealed events only is still written as version 1.
VERSION = 2
VERSIONS = (1, 2)


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
    try:
        leaves = [leaf_hash(canonical[s]) for s in range(tile_first, tile_last + 1)]
    except KeyError as exc:
        raise ArchiveError(
            f"{manifest.data.name}: sequence {exc} is missing (run `claire verify`)"
        ) from None
    path = audit_path(leaves, index, segment.nodes, height)
    root = root_from_path(
        leaves[index - (tile_first - manifest.first_sequence)], index, manifest.count, path
    )
    if root is None or root.hex() != manifest.merkle_root:
        # Never hand out a proof that does not verify: the segment's files were changed.
        raise ArchiveError(
            f"sequence {sequence}: the rows and tree of {manifest.label} do not lead to its "
            "signed Merkle root (run `claire verify`)"
        )
    return {
        "sequence_number": sequence,
        "segment": manifest.first_sequence,
        "leaf_index": index,
        "tree_size": manifest.count,
        "audit_path": [node.hex() for node in path],
        "canonical": canonical[sequence].decode(),
    }


@dataclass(frozen=True, slots=True)
class HotSource:
    """Where the events after the archive are proven: the store's rows, against a checkpoint."""

    store: EventStore
    checkpoint: Checkpoint


def _checkpoint_proofs(hot: HotSource, sequences: list[int]) -> list[dict[str, Any]]:
    """Audit paths to the checkpoint's tree: its range hashed in tiles (as a segment's tree),
    keeping only the leaves of the tiles that hold the wanted sequences."""
    checkpoint, tree = hot.checkpoint, hot.checkpoint.tree
    assert tree is not None
    height = TILE_HEIGHT
    first, last = tree.first, checkpoint.sequence_number
    wanted = set(sequences)
    tiles_wanted = {(s - first) >> height for s in wanted}
    nodes: list[bytes] = []
    kept: dict[int, list[bytes]] = {}
    canonical: dict[int, bytes] = {}
    pending: list[bytes] = []
    tile_size = 1 << height
    for page in hot.store.raw_pages(first, last, PAGE_ROWS) if first <= last else ():
        for seq, data in zip(page.sequence, page.canonical, strict=True):
            pending.append(leaf_hash(data))
            if seq in wanted:
                canonical[seq] = data
            if len(pending) == tile_size:
                _close_tile(nodes, kept, pending, tiles_wanted)
                pending = []
    if pending:
        _close_tile(nodes, kept, pending, tiles_wanted)
    if segment_root(nodes).hex() != tree.root or len(nodes) != -(-tree.size // tile_size):
        raise CheckpointError(
            f"the store's sequences {first}..{last} do not give the Merkle root of checkpoint "
            f"{checkpoint.label}: the log changed after it was signed (run `claire verify "
            "--checkpoints DIR`)"
        )
    proofs = []
    for sequence in sorted(wanted):
        index = sequence - first
        path = audit_path(kept[index >> height], index, nodes, height)
        proofs.append(
            {
                "sequence_number": sequence,
                "checkpoint": checkpoint.number,
                "leaf_index": index,
                "tree_size": tree.size,
                "audit_path": [node.hex() for node in path],
                "canonical": canonical[sequence].decode(),
            }
        )
    return proofs


def _close_tile(
    nodes: list[bytes], kept: dict[int, list[bytes]], leaves: list[bytes], wanted: set[int]
) -> None:
    from claire.archive.merkle import MerkleTree

    if len(nodes) in wanted:
        kept[len(nodes)] = leaves
    nodes.append(MerkleTree(leaves).root)


def make_bundle(
    reader: ArchiveReader | None, sequences: list[int], hot: HotSource | None = None
) -> dict[str, Any]:
    """The proof bundle of `sequences`: sealed ones against their segment, the ones after the
    archive against `hot`'s checkpoint (NotFoundError for one that neither can prove)."""
    sealed_end = reader.catalog.last_sequence if reader is not None else 0
    manifests: dict[int, Manifest] = {}
    proofs = []
    later: list[int] = []
    for sequence in sorted(set(sequences)):
        manifest = reader.catalog.segment_of(sequence) if reader is not None else None
        if manifest is None:
            later.append(sequence)
            continue
        manifests[manifest.first_sequence] = manifest
        assert reader is not None
        proofs.append(_proof(reader, manifest, sequence))
    if later and hot is None:
        raise NotFoundError(
            f"sequence {later[0]} is not sealed (the archive ends at {sealed_end}): prove it "
            "against a signed checkpoint (claire prove --checkpoints DIR) or seal it first "
            f"(claire archive seal --through {later[-1]})"
        )
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "manifests": {str(k): m.to_document() for k, m in sorted(manifests.items())},
        "events": proofs,
    }
    if later:
        assert hot is not None
        checkpoint = hot.checkpoint
        uncovered = [s for s in later if not checkpoint.covers(s)]
        if uncovered:
            raise NotFoundError(
                f"sequence {uncovered[0]} is not in the Merkle tree of checkpoint "
                f"{checkpoint.label} ({_tree_range(checkpoint)}): write a newer checkpoint "
                "first (claire checkpoint --dir DIR)"
            )
        proofs.extend(_checkpoint_proofs(hot, later))
        bundle["version"] = 2
        bundle["checkpoints"] = {str(checkpoint.number): checkpoint.statement}
    return bundle


def _tree_range(checkpoint: Checkpoint) -> str:
    tree = checkpoint.tree
    if tree is None:
        return "no tree"
    return f"sequences {tree.first}..{checkpoint.sequence_number}"


def newest_checkpoint(directory: Path, trusted: TrustedKey) -> Checkpoint:
    """The newest checkpoint in DIRECTORY signed by `trusted` that carries a Merkle tree."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    good = [
        f.checkpoint
        for f in read_directory(directory)
        if f.checkpoint is not None
        and f.checkpoint.tree is not None
        and f.checkpoint.number is not None
        and signature_problem(f.checkpoint.statement, trusted) is None
    ]
    if not good:
        raise NotFoundError(
            f"no checkpoint in {directory} signed by the trusted key {trusted.fingerprint} "
            "carries a Merkle tree (those written before checkpoint version 3 do not): write "
            "one with `claire checkpoint --dir DIR`"
        )
    return max(good, key=lambda c: (c.number or 0, c.sequence_number))


def check_subject(bundle: dict[str, Any], field_name: str, key: UUID) -> None:
    """Every proven event has `field_name` = `key` (the index that found them could be wrong;
    a bundle must prove what was asked for)."""
    for proof in bundle["events"]:
        value = json.loads(proof["canonical"]).get(field_name)
        if value != str(key):
            raise ArchiveError(
                f"sequence {proof['sequence_number']} was found for {field_name} {key} but its "
                f"bytes say {value} (the archive's index is wrong: run `claire verify`)"
            )


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
    version = bundle.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        report.problems.append(f"proof format version {version!r} is not supported")
        return report
    roots = _check_signed(bundle.get("manifests"), "manifests", trusted, report, version == 1)
    checkpoints: dict[str, dict[str, Any]] = {}
    if version == 2:
        checkpoints = _check_signed(
            bundle.get("checkpoints"), "checkpoints", trusted, report, False
        )
        if not roots and not checkpoints and not report.problems:
            report.problems.append("the bundle holds no signed manifest or checkpoint")
    elif "checkpoints" in bundle:
        report.problems.append("checkpoints: not part of a version 1 bundle")
    events = bundle.get("events")
    if not isinstance(events, list) or not events:
        report.problems.append("events: the bundle proves no event")
        return report
    for number, proof in enumerate(events):
        _check_event(number, proof, roots, checkpoints, report)
    if not report.problems and encode_bundle(bundle) != data:
        report.problems.append(
            "the file is not in its canonical form (sorted keys, two-space indent, one final "
            f"newline): it was changed at {_first_difference(data, encode_bundle(bundle))}"
        )
    return report


def _check_signed(
    documents: Any, kind: str, trusted: TrustedKey, report: ProofReport, required: bool
) -> dict[str, dict[str, Any]]:
    """The manifests (or checkpoints) signed by the trusted key, by their key in the bundle."""
    good: dict[str, dict[str, Any]] = {}
    if not isinstance(documents, dict) or (required and not documents):
        report.problems.append(f"{kind}: the bundle holds no signed {kind[:-1]}")
        return good
    for name, document in documents.items():
        where = f"{kind}[{name}]"
        if not isinstance(document, dict):
            report.problems.append(f"{where}: not a JSON object")
            continue
        problem = signature_problem(document, trusted)
        if problem is not None:
            what = (
                f"segment {document.get('first_sequence')}.."
                if kind == "manifests"
                else f"checkpoint at sequence {document.get('sequence_number')}"
            )
            report.problems.append(f"{where} ({what}): {problem}")
            continue
        good[name] = document
        report.signed_by = fingerprint(trusted.public_key)
    return good


def _check_event(
    number: int,
    proof: Any,
    manifests: dict[str, dict[str, Any]],
    checkpoints: dict[str, dict[str, Any]],
    report: ProofReport,
) -> None:
    where = f"events[{number}]"
    try:
        sequence = int(proof["sequence_number"])
        where = f"events[{number}] (sequence {sequence})"
        if ("segment" in proof) == ("checkpoint" in proof):
            report.problems.append(f"{where}: names neither or both a segment and a checkpoint")
            return
        if "segment" in proof:
            signer = "its segment's manifest"
            signed = manifests.get(str(proof["segment"]))
        else:
            signer = "its checkpoint"
            signed = checkpoints.get(str(proof["checkpoint"]))
        if signed is None:
            report.problems.append(f"{where}: {signer} is not signed by the trusted key")
            return
        if "segment" in proof:
            first, size, last = (
                int(signed["first_sequence"]),
                int(signed["count"]),
                f"segment {signed['first_sequence']}..{signed['last_sequence']}",
            )
        else:
            first, size = int(signed["tree_first_sequence"]), int(signed["tree_size"])
            last = f"checkpoint's tree {first}..{signed['sequence_number']}"
        expected_root = str(signed["merkle_root"])
        data = str(proof["canonical"]).encode()
        index, claimed = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(node)) for node in proof["audit_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"{where}: malformed ({exc})")
        return
    if claimed != size or index != sequence - first:
        report.problems.append(
            f"{where}: leaf {index} of {claimed} is not sequence {sequence} of the signed {last}"
        )
        return
    root = root_from_path(leaf_hash(data), index, size, path)
    if root is None or root.hex() != expected_root:
        report.problems.append(
            f"{where}: its canonical bytes and audit path do not lead to the signed Merkle root "
            f"{expected_root[:16]}… (the event or its path was changed)"
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
    "VERSIONS",
    "ArchiveError",
    "HotSource",
    "ProofReport",
    "check_bundle",
    "check_subject",
    "encode_bundle",
    "make_bundle",
    "newest_checkpoint",
    "proven_summary",
    "sequences_of",
]
