"""The segments of an archive, in order, and whether they line up end to end.

Readers and the sealer need an archive whose segments run from sequence 1 without a gap or an
overlap, each starting from the hash the one before ended at; anything else is refused here in
one line (`claire verify` says the same at length, with signatures, files and rows checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from claire.archive.location import ArchiveError, Location
from claire.archive.manifest import Manifest, manifest_names, read_manifest
from claire.events.codec import GENESIS_HASH


def continuity_problem(before: Manifest | None, segment: Manifest) -> str | None:
    """Why `segment` cannot follow `before` (None: the first segment), or None."""
    expected_first = before.last_sequence + 1 if before else 1
    expected_prev = before.last_hash if before else GENESIS_HASH
    after = f"after {before.label}" if before else "at the start of the archive"
    if segment.first_sequence > expected_first:
        missing = f"{expected_first}..{segment.first_sequence - 1}"
        return f"sequences {missing} are missing {after} ({segment.label} follows)"
    if segment.first_sequence < expected_first:
        return (
            f"{segment.label} overlaps {before.label if before else 'nothing'}: it starts at "
            f"{segment.first_sequence}, expected {expected_first}"
        )
    if segment.prev_hash != expected_prev:
        return (
            f"{segment.label} starts from hash {segment.prev_hash[:16]}… but "
            f"{before.label if before else 'the chain'} ends at {expected_prev[:16]}…"
        )
    return None


@dataclass(slots=True)
class Catalog:
    location: Location
    segments: list[Manifest] = field(default_factory=list)

    @classmethod
    def load(cls, location: Location) -> Catalog:
        """The archive's segments; ArchiveError when they do not form one chain from 1."""
        manifests = sorted(
            (read_manifest(location, name) for name in manifest_names(location)),
            key=lambda m: (m.first_sequence, m.last_sequence),
        )
        before: Manifest | None = None
        for segment in manifests:
            problem = continuity_problem(before, segment)
            if problem is not None:
                raise ArchiveError(
                    f"archive {location.url}: {problem} (run `claire verify` for the details)"
                )
            before = segment
        return cls(location, manifests)

    @property
    def last_sequence(self) -> int:
        return self.segments[-1].last_sequence if self.segments else 0

    @property
    def last_hash(self) -> str:
        return self.segments[-1].last_hash if self.segments else GENESIS_HASH

    def covering(self, first: int, last: int) -> list[Manifest]:
        """The segments holding any sequence of first..last, in order."""
        return [s for s in self.segments if s.last_sequence >= first and s.first_sequence <= last]

    def segment_of(self, sequence: int) -> Manifest | None:
        found = self.covering(sequence, sequence)
        return found[0] if found else None


__all__ = ["Catalog", "continuity_problem"]
