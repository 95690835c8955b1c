"""Reading sealed segments: row groups by sequence, ids through the index, Merkle tiles.

Every read touches only the row groups it needs (a segment's rows are in sequence order,
ROW_GROUP_ROWS to a row group, so a sequence's row group is arithmetic) and only the columns
it needs. Ids (event, correlation, causation) are found through the segment's index file,
sorted by key with statistics per row group, so a lookup reads one small row group per
segment. Parquet footers are read once per reader and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import UUID

from claire.archive.catalog import Catalog
from claire.archive.location import ArchiveError, Location
from claire.archive.manifest import Manifest
from claire.archive.seal import CAUSATION_ID, CORRELATION_ID, EVENT_ID
from claire.archive.tiles import decode_nodes

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

KINDS = {"event_id": EVENT_ID, "correlation_id": CORRELATION_ID, "causation_id": CAUSATION_ID}
LOOKUP_THREADS = 4


class SegmentReader:
    """One segment's files, opened lazily."""

    def __init__(self, location: Location, manifest: Manifest) -> None:
        self.location = location
        self.manifest = manifest
        self._lock = threading.Lock()

    def _parquet(self, name: str) -> pq.ParquetFile:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.location.open_input(name))
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{name}: not a readable Parquet file ({exc})") from None

    @cached_property
    def data(self) -> pq.ParquetFile:
        return self._parquet(self.manifest.data.name)

    @cached_property
    def index(self) -> pq.ParquetFile:
        return self._parquet(self.manifest.index.name)

    @cached_property
    def starts(self) -> list[int]:
        """The first sequence of every row group, and one past the last."""
        metadata = self.data.metadata
        starts = [self.manifest.first_sequence]
        for i in range(metadata.num_row_groups):
            starts.append(starts[-1] + metadata.row_group(i).num_rows)
        if starts[-1] != self.manifest.last_sequence + 1:
            raise ArchiveError(
                f"{self.manifest.data.name}: holds {starts[-1] - starts[0]} rows, its manifest "
                f"says {self.manifest.count} (run `claire verify`)"
            )
        return starts

    @cached_property
    def nodes(self) -> list[bytes]:
        try:
            return decode_nodes(self.location.read_bytes(self.manifest.tree.name))
        except ValueError as exc:
            raise ArchiveError(f"{self.manifest.tree.name}: {exc}") from None

    def row_groups(self, first: int, last: int) -> range:
        """The row groups holding any sequence of first..last."""
        from bisect import bisect_right

        starts = self.starts
        lo = max(0, bisect_right(starts, max(first, starts[0])) - 1)
        hi = min(len(starts) - 1, bisect_right(starts, last))
        return range(lo, hi)

    def read_group(self, group: int, columns: Sequence[str]) -> pa.Table:
        with self._lock:  # a ParquetFile is not safe for concurrent reads
            try:
                return self.data.read_row_group(group, columns=list(columns))
            except (OSError, ValueError) as exc:
                raise ArchiveError(
                    f"{self.manifest.data.name}: row group {group} unreadable ({exc})"
                ) from None

    def groups(
        self, first: int, last: int, columns: Sequence[str], *, newest_first: bool = False
    ) -> Iterator[pa.Table]:
        """Row groups overlapping first..last, cut to it (`sequence_number` always included)."""
        wanted = list(dict.fromkeys(["sequence_number", *columns]))
        groups = self.row_groups(first, last)
        for group in reversed(groups) if newest_first else groups:
            table = self.read_group(group, wanted)
            start, stop = self.starts[group], self.starts[group + 1] - 1
            if first > start or last < stop:
                table = _cut(table, start, max(first, start), min(last, stop))
            yield table

    def lookup(self, kind: int, key: UUID) -> list[int]:
        """Sequences whose id of `kind` is `key`, from the index file: the row groups whose
        statistics may hold it, each searched by bisection (it is sorted by kind, then key)."""
        raw = str(key)
        metadata = self.index.metadata
        found: list[int] = []
        for group in range(metadata.num_row_groups):
            columns = metadata.row_group(group)
            kinds, keys = columns.column(0).statistics, columns.column(1).statistics
            if not _may_hold(kinds, keys, kind, raw):
                continue
            with self._lock:
                table = self.index.read_row_group(group).combine_chunks()
            found.extend(_equal_range(table, kind, raw))
        return found


def _may_hold(kinds: Any, keys: Any, kind: int, raw: str) -> bool:
    """Whether an index row group (sorted by kind, then key) may hold (kind, raw)."""
    if kinds is None or keys is None or not (kinds.has_min_max and keys.has_min_max):
        return True
    if not kinds.min <= kind <= kinds.max:
        return False
    # Keys are sorted within a kind only: the key bounds mean something for one kind.
    return kinds.min != kinds.max or bool(keys.min <= raw <= keys.max)


def _cut(table: pa.Table, start: int, first: int, last: int) -> pa.Table:
    """Rows first..last of a row group whose first row is sequence `start`: a slice, as rows
    are stored in sequence order without a gap (checked on the slice's ends; a file that breaks
    that is filtered row by row instead, and `claire verify` says what is wrong with it)."""
    part = table.slice(first - start, last - first + 1)
    sequence = part.column("sequence_number")
    if (
        part.num_rows == last - first + 1
        and sequence[0].as_py() == first
        and sequence[part.num_rows - 1].as_py() == last
    ):
        return part
    import pyarrow.compute as pc

    seq = table.column("sequence_number")
    return table.filter(pc.and_(pc.greater_equal(seq, first), pc.less_equal(seq, last)))


def _equal_range(table: pa.Table, kind: int, raw: str) -> list[int]:
    """The sequences of the rows (kind, raw) of an index row group sorted by (kind, key)."""
    kinds, keys = table.column("kind"), table.column("key")

    def at(i: int) -> tuple[int, str]:
        return (kinds[i].as_py(), keys[i].as_py())

    wanted = (kind, raw)
    lo, hi = 0, table.num_rows
    while lo < hi:  # the first row not below (kind, raw)
        mid = (lo + hi) // 2
        if at(mid) < wanted:
            lo = mid + 1
        else:
            hi = mid
    found: list[int] = []
    sequences = table.column("sequence_number")
    while lo < table.num_rows and at(lo) == wanted:
        found.append(sequences[lo].as_py())
        lo += 1
    return found


class ArchiveReader:
    """The whole archive: its catalog and a reader per segment."""

    def __init__(self, location: Location, catalog: Catalog | None = None) -> None:
        self.location = location
        self._catalog = catalog
        self._segments: dict[int, SegmentReader] = {}

    @property
    def catalog(self) -> Catalog:
        """The segments, loaded (and checked to line up) on first use, not on opening: so
        `claire verify` can open a store whose archive is damaged and say how."""
        if self._catalog is None:
            self._catalog = Catalog.load(self.location)
        return self._catalog

    @property
    def last_sequence(self) -> int:
        return self.catalog.last_sequence

    def segment(self, manifest: Manifest) -> SegmentReader:
        found = self._segments.get(manifest.first_sequence)
        if found is None:
            found = self._segments[manifest.first_sequence] = SegmentReader(self.location, manifest)
        return found

    def segments(self, first: int, last: int, *, newest_first: bool = False) -> list[SegmentReader]:
        found = [self.segment(m) for m in self.catalog.covering(first, last)]
        return found[::-1] if newest_first else found

    def groups(
        self, first: int, last: int, columns: Sequence[str], *, newest_first: bool = False
    ) -> Iterator[pa.Table]:
        for segment in self.segments(first, last, newest_first=newest_first):
            yield from segment.groups(first, last, columns, newest_first=newest_first)

    def lookup(self, field: str, key: UUID) -> list[int]:
        """Sequences (ascending) of the archived events whose `field` is `key`."""
        kind = KINDS[field]
        segments = [self.segment(manifest) for manifest in self.catalog.segments]
        if len(segments) < 2:
            return sorted(s for segment in segments for s in segment.lookup(kind, key))
        # Segments searched at once: reading and decoding a row group is outside the
        # interpreter lock, and a year of history is dozens of segments.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="claire-lookup") as pool:
            found = pool.map(lambda segment: segment.lookup(kind, key), segments)
            return sorted(s for part in found for s in part)

    def rows_at(self, sequences: Sequence[int], columns: Sequence[str]) -> pa.Table | None:
        """The rows of the given archived sequences (ascending), reading each row group once."""
        import pyarrow as pa
        import pyarrow.compute as pc

        tables: list[pa.Table] = []
        wanted = sorted(set(sequences))
        by_group: dict[tuple[int, int], list[int]] = {}
        readers: dict[int, SegmentReader] = {}
        for seq in wanted:
            manifest = self.catalog.segment_of(seq)
            if manifest is None:
                continue
            reader = self.segment(manifest)
            group = reader.row_groups(seq, seq)[0]
            by_group.setdefault((manifest.first_sequence, group), []).append(seq)
            readers[manifest.first_sequence] = reader
        for (first, group), seqs in sorted(by_group.items()):
            table = readers[first].read_group(
                group, list(dict.fromkeys(["sequence_number", *columns]))
            )
            mask = pc.is_in(table.column("sequence_number"), value_set=pa.array(seqs, pa.int64()))
            tables.append(table.filter(mask))
        return pa.concat_tables(tables) if tables else None


__all__ = ["KINDS", "ArchiveReader", "SegmentReader"]
