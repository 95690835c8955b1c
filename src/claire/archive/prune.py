"""`claire archive prune --through SEQ`: the only way events leave the hot store.

Only after the archive verifies (every segment signed by the trusted key, its files, rows and
Merkle root as sealed: see claire.archive.verify) and holds the very rows being removed, byte
for byte (sequence, canonical bytes, prev_hash, hash), does the adapter remove them. The head
always stays, so the database's chain guard keeps comparing new rows with it; every id stays in
the adapter's id table, so duplicates and causes are still recognised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claire.archive.catalog import Catalog
from claire.archive.location import ArchiveError, Location
from claire.archive.reader import ArchiveReader
from claire.archive.verify import check_segments, first_difference
from claire.audit.keys import TrustedKey
from claire.audit.verify import VerifyReport
from claire.store.port import EventStore


@dataclass(frozen=True, slots=True)
class PruneReport:
    before: int  # pruned through, before
    through: int  # pruned through, now
    hash: str

    def to_document(self) -> dict[str, Any]:
        return {
            "pruned_before": self.before,
            "pruned_through": self.through,
            "removed": self.through - self.before,
            "hash_at": self.hash,
        }


def prune(
    hot: EventStore,
    location: Location,
    through: int,
    trusted: TrustedKey,
    *,
    record_url: str | None = None,
) -> PruneReport:
    if not hot.can_prune:
        raise ArchiveError(
            f"not pruned: {type(hot).__name__} cannot prune (SQLite and PostgreSQL stores can; "
            "see docs/archive.md)"
        )
    before = hot.pruned_through()
    catalog = Catalog.load(location)
    if through <= before:
        return PruneReport(before, before, "")
    if through > catalog.last_sequence:
        raise ArchiveError(
            f"not pruned: sequence {through} is not sealed (the archive ends at "
            f"{catalog.last_sequence}); run `claire archive seal --through {through}` first"
        )
    head = hot.head().sequence_number
    if through >= head:
        raise ArchiveError(
            f"not pruned: the head ({head}) stays in the hot store; prune through {head - 1} "
            "at most"
        )
    report = VerifyReport(1)
    check_segments(location, trusted, report)
    if report.first_break is not None or report.extra_problems:
        problem = report.first_break.message if report.first_break else report.extra_problems[0]
        where = report.first_break.sequence_number if report.first_break else "?"
        raise ArchiveError(
            f"not pruned: the archive does not verify (sequence {where}: {problem}); "
            "run `claire verify`"
        )
    reader = ArchiveReader(location, catalog)
    differs = first_difference(hot, reader, before + 1, through)
    if differs is not None:
        raise ArchiveError(
            f"not pruned: the hot store's sequence {differs} is not the row the archive sealed "
            "(run `claire verify`)"
        )
    table = reader.rows_at([through], ["hash"])
    hash_at = str(table.column("hash")[0].as_py()) if table is not None else ""
    hot.prune(through, hash_at, record_url)
    return PruneReport(before, through, hash_at)


__all__ = ["PruneReport", "prune"]
