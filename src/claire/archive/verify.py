"""`claire verify` with an archive: every segment, then the chain on into the hot store.

Per segment, in sequence order: the manifest must be signed by the trusted key (a replaced
segment re-signed under another key, or an edited manifest, fails here), must start where the
previous one ended (a deleted segment is a gap, two segments claiming a sequence overlap), its
files must be the ones sealed (SHA-256 and size), its rows must form the chain it claims (every
hash recomputed, every row's columns equal to its bytes, every prev_hash the hash before, from
the signed prev_hash to the signed last hash), and the Merkle root over its rows and the stored
tile nodes must be the signed ones. The first failure becomes the report's break, named by the
first sequence it puts in doubt; the chain then runs on into the hot store from the hash the
archive vouches for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from claire.archive.catalog import continuity_problem
from claire.archive.location import ArchiveError, Location
from claire.archive.manifest import TILE_HEIGHT, FileRef, Manifest, manifest_names, read_manifest
from claire.archive.merkle import MerkleTree, leaf_hash
from claire.archive.reader import ArchiveReader, SegmentReader
from claire.archive.sealed import ALL_COLUMNS, chain_records
from claire.archive.store import ArchivedEventStore
from claire.archive.tiles import decode_nodes, segment_root
from claire.audit.keys import TrustedKey, signature_problem
from claire.audit.verify import ChainBreak, Problem, VerifyReport, check_chain, verify_log
from claire.events.codec import GENESIS_HASH
from claire.store.port import ChainRecord, EventStore

READ_CHUNK = 8 * 1024 * 1024


@dataclass(slots=True)
class Leaves:
    """Leaf hashes of the rows as they pass, folded into tile nodes 2^TILE_HEIGHT at a time."""

    pending: list[bytes]
    tiles: list[bytes]

    def add(self, record: ChainRecord) -> ChainRecord:
        self.pending.append(leaf_hash(record.canonical))
        if len(self.pending) == 1 << TILE_HEIGHT:
            self.flush()
        return record

    def flush(self) -> None:
        if self.pending:
            self.tiles.append(MerkleTree(self.pending).root)
            self.pending = []


def _file_problem(location: Location, ref: FileRef) -> str | None:
    """None when the file is the one the manifest names (size and SHA-256)."""
    digest, size = hashlib.sha256(), 0
    try:
        with location.fs.open_input_stream(location.path(ref.name)) as stream:
            while chunk := stream.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return f"{ref.name} is missing"
    except OSError as exc:
        return f"{ref.name} is unreadable ({exc})"
    if (size, digest.hexdigest()) != (ref.size, ref.sha256):
        return (
            f"{ref.name} is not the file that was sealed (SHA-256 {digest.hexdigest()[:16]}…, "
            f"{size} bytes; the manifest signed {ref.sha256[:16]}…, {ref.size} bytes)"
        )
    return None


class SegmentCheck:
    """The checks of one segment, adding to one report."""

    def __init__(
        self, location: Location, manifest: Manifest, report: VerifyReport, trusted: TrustedKey
    ) -> None:
        self.location = location
        self.manifest = manifest
        self.report = report
        self.trusted = trusted
        self.problems: list[str] = []

    def fail(self, sequence: int, problem: Problem, message: str) -> None:
        before = self.report.last_hash if self.report.last_sequence == sequence - 1 else None
        self.report.break_at(
            ChainBreak(sequence, problem, f"{self.manifest.label}: {message}"), before
        )

    def run(self, prev_hash: str) -> bool:
        """True when the segment holds up (the walk may go on after it)."""
        m = self.manifest
        signed = signature_problem(m.statement, self.trusted)
        if signed is not None:
            self.fail(m.first_sequence, Problem.OTHER, f"manifest {m.name} is {signed}")
            return False
        file_problems = {
            ref.name: _file_problem(self.location, ref) for ref in (m.data, m.tree, m.index)
        }
        if file_problems[m.data.name] is not None and "missing" in str(file_problems[m.data.name]):
            self.fail(m.first_sequence, Problem.MISSING, str(file_problems[m.data.name]))
            return False
        leaves = Leaves([], [])
        try:
            records = (leaves.add(r) for r in self._records())
            check_chain(
                records,
                from_sequence=m.first_sequence,
                prev_hash=prev_hash,
                report=self.report,
                anchored=True,
            )
        except ArchiveError as exc:
            self.fail(m.first_sequence, Problem.OTHER, str(exc))
            return False
        if self.report.first_break is not None:
            return False
        leaves.flush()
        return self._after_rows(leaves.tiles, file_problems)

    def _records(self) -> Iterator[ChainRecord]:
        reader = SegmentReader(self.location, self.manifest)
        for group in range(reader.data.metadata.num_row_groups):
            yield from chain_records(reader.read_group(group, ["sequence_number", *ALL_COLUMNS]))

    def _after_rows(self, tiles: list[bytes], file_problems: dict[str, str | None]) -> bool:
        m, report = self.manifest, self.report
        last = report.last_sequence or 0
        if last < m.last_sequence:
            self.fail(
                last + 1, Problem.MISSING, f"ends at {last}, its manifest at {m.last_sequence}"
            )
            return False
        if report.last_hash != m.last_hash:
            first = self._first_bad_tile(tiles)
            self.fail(
                first,
                Problem.OTHER,
                f"its rows end at hash {str(report.last_hash)[:16]}… but the manifest signed "
                f"{m.last_hash[:16]}…: rows from sequence {first} on were rewritten",
            )
            return False
        if segment_root(tiles).hex() != m.merkle_root:
            first = self._first_bad_tile(tiles)
            self.fail(first, Problem.OTHER, "its Merkle root is not the signed one")
            return False
        for name, problem in file_problems.items():
            if problem is not None:
                where = m.first_sequence
                if name == m.tree.name:
                    self.problems.append(f"{m.label}: {problem} (proofs cannot be made from it)")
                    continue
                self.fail(where, Problem.OTHER, problem)
                return False
        return True

    def _first_bad_tile(self, tiles: list[bytes]) -> int:
        """The first sequence of the first tile whose node differs from the sealed tree."""
        try:
            sealed = decode_nodes(self.location.read_bytes(self.manifest.tree.name))
        except (ArchiveError, ValueError):
            return self.manifest.first_sequence
        for index, (mine, theirs) in enumerate(zip(tiles, sealed, strict=False)):
            if mine != theirs:
                return self.manifest.first_sequence + (index << TILE_HEIGHT)
        return self.manifest.first_sequence


def load_segments(location: Location, report: VerifyReport) -> list[Manifest]:
    """Every manifest, in order; an unreadable one is a problem at the sequence its name says."""
    found: list[Manifest] = []
    for name in manifest_names(location):
        try:
            found.append(read_manifest(location, name))
        except ArchiveError as exc:
            first = int(name.rsplit("/", 1)[-1].split("-", 1)[0] or 1)
            report.break_at(ChainBreak(first, Problem.OTHER, str(exc)), None)
    return sorted(found, key=lambda m: (m.first_sequence, m.last_sequence))


def check_segments(
    location: Location, trusted: TrustedKey, report: VerifyReport
) -> tuple[int, str, list[Manifest]]:
    """Walk the segments into `report`; return the last sequence and hash they vouch for."""
    manifests = load_segments(location, report)
    before: Manifest | None = None
    last, last_hash = 0, GENESIS_HASH
    for manifest in manifests:
        problem = continuity_problem(before, manifest)
        if problem is not None:
            expected = last + 1
            kind = Problem.MISSING if manifest.first_sequence > expected else Problem.OUT_OF_ORDER
            where = expected if kind is Problem.MISSING else manifest.first_sequence
            report.break_at(ChainBreak(where, kind, problem), last_hash)
            break
        check = SegmentCheck(location, manifest, report, trusted)
        held = check.run(last_hash)
        report.extra_problems.extend(check.problems)
        if not held:
            break
        before, last, last_hash = manifest, manifest.last_sequence, manifest.last_hash
    return last, last_hash, manifests


def verify_with_archive(
    store: ArchivedEventStore, trusted: TrustedKey, from_sequence: int = 1
) -> VerifyReport:
    """The archive's segments and the hot store, as one chain."""
    hot = store.hot
    boundary = hot.pruned_through()
    if boundary:
        report = VerifyReport(1)
        last, last_hash, manifests = check_segments(store.archive.location, trusted, report)
        if report.first_break is None:
            if last < boundary:
                report.break_at(
                    ChainBreak(
                        last + 1,
                        Problem.MISSING,
                        f"the store pruned 1..{boundary} but the archive ends at {last}",
                    ),
                    last_hash,
                )
            else:
                if boundary < last:  # sealed rows the hot store still holds: walked apart
                    overlap = VerifyReport(boundary + 1)
                    check_chain(
                        hot.iter_records(boundary + 1, last),
                        from_sequence=boundary + 1,
                        prev_hash=_hash_at(store, boundary, last, last_hash),
                        report=overlap,
                        anchored=True,
                    )
                    if overlap.first_break is not None:
                        report.break_at(overlap.first_break, overlap.last_hash)
                check_chain(
                    hot.iter_records(last + 1),
                    from_sequence=last + 1,
                    prev_hash=last_hash,
                    report=report,
                    anchored=True,
                )
                _check_overlap(store, manifests, boundary, report)
    else:
        report = verify_log(hot, from_sequence)
        archived = VerifyReport(1)
        _, _, manifests = check_segments(store.archive.location, trusted, archived)
        if archived.first_break is not None:
            report.break_at(archived.first_break, archived.last_hash)
        report.extra_problems.extend(archived.extra_problems)
        _check_overlap(store, manifests, 0, report)
    report.extra["archive"] = _summary(store, trusted, manifests, boundary)
    return report


def _hash_at(store: ArchivedEventStore, sequence: int, last: int, last_hash: str) -> str:
    if sequence == last:
        return last_hash
    record = next(store.iter_records(sequence, sequence), None)
    return record.hash if record is not None else GENESIS_HASH


def _check_overlap(
    store: ArchivedEventStore, manifests: list[Manifest], boundary: int, report: VerifyReport
) -> None:
    """Where the hot store still holds sealed rows, they must be the rows that were sealed."""
    ends = [m for m in manifests if m.last_sequence > boundary]
    linked = store.hot.linked_records([m.last_sequence for m in ends])
    for manifest in ends:
        found = linked.get(manifest.last_sequence)
        if found is not None and found.record.hash != manifest.last_hash:
            reader = ArchiveReader(store.archive.location)
            start = max(manifest.first_sequence, boundary + 1)  # below: pruned, not compared
            first = first_difference(store.hot, reader, start, manifest.last_sequence) or start
            report.break_at(
                ChainBreak(
                    first,
                    Problem.OTHER,
                    f"the hot store's sequence {first} is not the row {manifest.label} sealed",
                ),
                None,
            )
            return


def first_difference(hot: EventStore, reader: ArchiveReader, first: int, last: int) -> int | None:
    """The first sequence in first..last whose hot row (sequence, canonical bytes, prev_hash,
    hash) differs from the archived one; None when they are the same, byte for byte."""
    columns = ["canonical", "prev_hash", "hash"]
    sealed = (
        row
        for table in reader.groups(first, last, columns)
        for row in zip(
            table.column("sequence_number").to_pylist(),
            *(table.column(c).to_pylist() for c in columns),
            strict=True,
        )
    )
    expected = first
    for page in hot.raw_pages(first, last):
        for row in zip(page.sequence, page.canonical, page.prev_hash, page.hash, strict=True):
            if row[0] != expected or next(sealed, None) != row:
                return expected
            expected += 1
    return expected if expected <= last else None


def _summary(
    store: ArchivedEventStore, trusted: TrustedKey, manifests: list[Manifest], boundary: int
) -> dict[str, Any]:
    last = manifests[-1].last_sequence if manifests else 0
    return {
        "url": store.archive.location.url,
        "segments": len(manifests),
        "last_sequence": last,
        "pruned_through": boundary,
        "trusted_key": trusted.to_document(),
        "summary": (
            f"{len(manifests)} segment{'' if len(manifests) == 1 else 's'} "
            f"(sequence 1 → {last}) signed by key {trusted.fingerprint}; "
            f"hot store from {boundary + 1}"
        ),
    }


__all__ = ["check_segments", "first_difference", "verify_with_archive"]
