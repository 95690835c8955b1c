"""`claire archive seal`: copy a range of the hot store into signed segments.

Sealing streams: the store hands over pages of (sequence, canonical bytes, prev_hash, hash),
one Parquet row group each; DuckDB derives the other columns and recomputes every hash; the
chain is checked row by row across pages and segments (a broken chain is never sealed under a
signature); Merkle tile nodes and index keys are collected as the pages pass. Memory is bounded
by one segment's index keys and tile nodes (about 60 bytes an event), never by the range sealed.

Idempotent and resumable: a segment counts only once its manifest exists (written last,
atomically), sealing continues after the archive's last segment, and re-sealing the same rows
writes byte-identical files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claire.archive.ahead import Ahead, fetched_in_parallel
from claire.archive.catalog import Catalog
from claire.archive.location import ArchiveError, Location
from claire.archive.manifest import (
    TILE_HEIGHT,
    FileRef,
    Manifest,
    base_name,
    encode_manifest,
)
from claire.archive.merkle import LEAF_PREFIX
from claire.archive.rows import (
    DICTIONARY_COLUMNS,
    ROW_GROUP_ROWS,
    STATISTICS_COLUMNS,
    Engine,
    raw_table,
    schema,
    stored_part,
)
from claire.archive.tiles import encode_nodes, segment_root, tile_roots
from claire.audit.keys import fingerprint, public_hex, sign_document
from claire.events.values import format_utc
from claire.store.port import EventStore, RawPage

if TYPE_CHECKING:
    import pyarrow as pa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Events per segment (a multiple of ROW_GROUP_ROWS): 64 row groups, ~250 MB of Parquet.
SEGMENT_EVENTS = 64 * ROW_GROUP_ROWS
# Level 1: measured twice as fast as 3 on these rows, and no larger (226 against 241
# bytes an event).
ZSTD_LEVEL = 1
INDEX_ROW_GROUP_ROWS = 32_768
# Index kinds: which id a key of the index file is.
EVENT_ID, CORRELATION_ID, CAUSATION_ID = 0, 1, 2
INDEX_SQL = (
    " UNION ALL ".join(
        f"SELECT {kind}::TINYINT AS kind, {column} AS key, sequence_number FROM k "
        f"WHERE {column} IS NOT NULL"
        for kind, column in (
            (EVENT_ID, "event_id"),
            (CORRELATION_ID, "correlation_id"),
            (CAUSATION_ID, "causation_id"),
        )
    )
    + " ORDER BY kind, key, sequence_number"
)


class HashingSink:
    """A write-only file object that hashes what passes through to the real output."""

    def __init__(self, out: pa.NativeFile) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        self.out.write(view)
        return view.nbytes

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        if not self.closed:
            self.out.close()
            self.closed = True

    def ref(self, name: str) -> FileRef:
        return FileRef(name, self.size, self.sha256.hexdigest())


def derive_page(engine: Engine, page: RawPage) -> pa.Table:
    return engine.derive(raw_table(page.sequence, page.canonical, page.prev_hash, page.hash))


class ChainCheck:
    """The hash chain checked page by page from a segment's first sequence and `prev_hash`,
    and the Merkle tile nodes of each page: all the hashing sealing does per event, run on
    the thread that derives the pages (this thread only compresses and writes them)."""

    def __init__(self, first_sequence: int, prev_hash: str) -> None:
        self.first_sequence = first_sequence
        self._expected = first_sequence
        self._last_hash = prev_hash

    def tiles(self, page: RawPage) -> list[bytes]:
        """Check the next page against the chain; the Merkle tile nodes of its events.

        One pass of hashing per row, and the comparisons as whole-page operations (each row's
        hash is computed from the hash computed before it, so the page chains from the last
        hash; then the stored hashes must equal the computed ones and every prev_hash the hash
        before it). Only a page that fails is walked row by row, to name the first bad row.
        """
        sequence, canonical = page.sequence, page.canonical
        n = len(sequence)
        if n == 0:
            return []
        if (self._expected - self.first_sequence) % (1 << TILE_HEIGHT):
            raise ArchiveError("internal: a page must start at a Merkle tile boundary")
        sha256, leaf_prefix = hashlib.sha256, LEAF_PREFIX
        prev = bytes.fromhex(self._last_hash)
        digests: list[bytes] = []
        leaves: list[bytes] = []
        keep, leaf = digests.append, leaves.append
        for data in canonical:
            prev = sha256(prev + data).digest()
            keep(prev)
            leaf(sha256(leaf_prefix + data).digest())
        if (
            sequence[0] != self._expected
            or sequence[-1] != self._expected + n - 1
            or sequence != list(range(self._expected, self._expected + n))
            or page.prev_hash[0] != self._last_hash
            or page.prev_hash[1:] != page.hash[:-1]
            or b"".join(digests).hex() != "".join(page.hash)
        ):
            self._locate_break(page)
        self._expected += n
        self._last_hash = page.hash[-1]
        return tile_roots(leaves, TILE_HEIGHT)

    def _locate_break(self, page: RawPage) -> None:
        """Raise for the first row of `page` that breaks the chain (the slow, exact walk)."""
        sha256 = hashlib.sha256
        prev = self._last_hash
        for i, (seq, data, prev_hash, digest) in enumerate(
            zip(page.sequence, page.canonical, page.prev_hash, page.hash, strict=True)
        ):
            if seq != self._expected + i:
                raise self._broken(self._expected + i, "the sequence has a gap or is out of order")
            if prev_hash != prev:
                raise self._broken(seq, "its prev_hash is not the previous hash")
            if sha256(bytes.fromhex(prev_hash) + data).hexdigest() != digest:
                raise self._broken(seq, "its hash does not match its bytes")
            prev = digest
        raise ArchiveError("internal: a page failed the chain check but no row breaks it")

    def _broken(self, sequence: int, why: str) -> ArchiveError:
        return ArchiveError(
            f"not sealed: sequence {sequence} breaks the hash chain ({why}); "
            "run `claire verify` and repair the store first"
        )


@dataclass(slots=True)
class SegmentWriter:
    """One segment: pages in, files and the signed manifest out."""

    location: Location
    engine: Engine
    first_sequence: int
    last_sequence: int
    prev_hash: str
    key: Ed25519PrivateKey
    _expected: int = 0
    _last_hash: str = ""
    _tiles: list[bytes] = field(default_factory=list)
    _keys: list[pa.Table] = field(default_factory=list)
    _times: list[Any] = field(default_factory=list)
    _sink: HashingSink | None = None
    _writer: Any = None
    _chain: ChainCheck | None = None

    def __post_init__(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._expected, self._last_hash = self.first_sequence, self.prev_hash
        base = base_name(self.first_sequence, self.last_sequence)
        self._sink = HashingSink(self.location.open_output(base + ".parquet"))
        self._writer = pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"),
            schema(),
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            use_dictionary=DICTIONARY_COLUMNS,
            write_statistics=STATISTICS_COLUMNS,
        )

    def add(self, page: RawPage) -> None:
        """Check one page against the chain and write it as a row group."""
        self.add_derived(page, derive_page(self.engine, page))

    def add_derived(
        self, page: RawPage, derived: pa.Table, tiles: list[bytes] | None = None
    ) -> None:
        """Write a page's derived rows (`derive_page`) as a row group, the page checked against
        the chain: by `ChainCheck.tiles` already (its Merkle tile nodes given), or here."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(page.sequence)
        if tiles is None:
            if self._chain is None:
                self._chain = ChainCheck(self._expected, self._last_hash)
            try:
                tiles = self._chain.tiles(page)
            except ArchiveError:
                self.abandon()
                raise
        self._tiles.extend(tiles)
        # Copied out (take): a column imported from DuckDB keeps its whole page alive, and a
        # segment's pages must not stay in memory for the index built at its end.
        keys = derived.select(["sequence_number", "event_id", "correlation_id", "causation_id"])
        self._keys.append(keys.take(pa.array(range(n), pa.int64())))
        self._times.append(pc.min_max(derived.column("timestamp_utc")))
        self._writer.write_table(stored_part(derived), row_group_size=ROW_GROUP_ROWS)
        self._expected += n
        self._last_hash = page.hash[-1] if n else self._last_hash

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> Manifest:
        """Close the data file, write tree and index, then the signed manifest (last)."""
        if self._expected != self.last_sequence + 1:
            self.abandon()
            raise ArchiveError(
                f"not sealed: the store returned sequences {self.first_sequence}.."
                f"{self._expected - 1} but {self.last_sequence} was asked for"
            )
        self._writer.close()
        self._writer = None
        base = base_name(self.first_sequence, self.last_sequence)
        assert self._sink is not None
        data = self._sink.ref(base + ".parquet")
        tree_bytes = encode_nodes(self._tiles)
        tree = FileRef(base + ".tree", len(tree_bytes), hashlib.sha256(tree_bytes).hexdigest())
        self.location.write_atomic(tree.name, tree_bytes)
        index = self._write_index(base + ".index.parquet")
        first = min(t["min"] for t in (m.as_py() for m in self._times))
        last = max(t["max"] for t in (m.as_py() for m in self._times))
        manifest = Manifest(
            first_sequence=self.first_sequence,
            last_sequence=self.last_sequence,
            prev_hash=self.prev_hash,
            last_hash=self._last_hash,
            first_time=format_utc(first),
            last_time=format_utc(last),
            merkle_root=segment_root(self._tiles).hex(),
            data=data,
            tree=tree,
            index=index,
        )
        body = {**manifest.body(), "key_fingerprint": fingerprint(public_hex(self.key))}
        statement = sign_document(self.key, body)
        self.location.write_atomic(manifest.name, encode_manifest(statement))
        return Manifest(**{**_fields(manifest), "statement": statement})

    def _write_index(self, name: str) -> FileRef:
        import pyarrow as pa
        import pyarrow.parquet as pq

        keys = pa.concat_tables(self._keys)
        self._keys = []
        # One sort by DuckDB (measured twice as fast here as Arrow's sort of the string keys);
        # (kind, key, sequence) is unique, so the order, and the file, are the same either way.
        table = self.engine.query(INDEX_SQL, k=keys).cast(_index_schema())
        sink = HashingSink(self.location.open_output(name))
        writer = pq.ParquetWriter(
            pa.PythonFile(sink, mode="w"),
            _index_schema(),
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            use_dictionary=False,
        )
        # Each kind in row groups of its own: a row group's key statistics then bound the ids
        # of one kind, so a lookup reads the one row group that can hold the id (a row group
        # spanning two kinds could hold any id and was read by every lookup).
        at = 0
        for column in ("event_id", "correlation_id", "causation_id"):
            count = keys.num_rows - keys.column(column).null_count
            if count:
                writer.write_table(table.slice(at, count), row_group_size=INDEX_ROW_GROUP_ROWS)
            at += count
        if at != table.num_rows:
            raise ArchiveError(f"internal: the index has {table.num_rows} rows, {at} were written")
        writer.close()
        sink.close()
        return sink.ref(name)


def _index_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("kind", pa.int8()), ("key", pa.string()), ("sequence_number", pa.int64())])


def _fields(manifest: Manifest) -> dict[str, Any]:
    return {name: getattr(manifest, name) for name in Manifest.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class SealReport:
    through: int  # the archive's last sequence afterwards
    written: list[Manifest]
    already: int  # the archive's last sequence before

    def to_document(self) -> dict[str, Any]:
        return {
            "sealed_before": self.already,
            "sealed_through": self.through,
            "events": sum(m.count for m in self.written),
            "segments": [m.to_document() for m in self.written],
        }


Progress = Callable[[Manifest], None]


def seal(
    store: EventStore,
    location: Location,
    through: int,
    key: Ed25519PrivateKey,
    *,
    segment_events: int = SEGMENT_EVENTS,
    progress: Progress | None = None,
) -> SealReport:
    """Seal sequences after the archive's last segment up to `through` (capped at the head)."""
    if segment_events < 1 or segment_events % (1 << TILE_HEIGHT):
        raise ArchiveError(
            f"segment size {segment_events}: must be a positive multiple of {1 << TILE_HEIGHT}"
        )
    catalog = Catalog.load(location)
    start, prev_hash = catalog.last_sequence + 1, catalog.last_hash
    through = min(through, store.head().sequence_number)
    written: list[Manifest] = []
    engine = Engine()
    size = min(ROW_GROUP_ROWS, segment_events)

    def fetch(a: int, b: int) -> list[RawPage]:
        return list(store.raw_pages(a, b, size))

    try:
        for first in range(start, through + 1, segment_events):
            last = min(first + segment_events - 1, through)
            writer = SegmentWriter(location, engine, first, last, prev_hash, key)
            # Stages on threads of their own, each mostly outside the interpreter lock: the
            # store fetches the next two pages on two connections (the database's work is
            # most of it), DuckDB derives the page before, and this thread hashes and
            # compresses the one before that.
            pages = fetched_in_parallel(fetch, first, last, size)
            chain = ChainCheck(first, prev_hash)
            try:
                for page, derived, tiles in Ahead(
                    (page, derive_page(engine, page), chain.tiles(page)) for page in pages
                ):
                    writer.add_derived(page, derived, tiles)
            except BaseException:
                writer.abandon()
                raise
            manifest = writer.finish()
            written.append(manifest)
            prev_hash = manifest.last_hash
            if progress is not None:
                progress(manifest)
    finally:
        engine.close()
    return SealReport(max(through, catalog.last_sequence), written, catalog.last_sequence)


__all__ = ["SEGMENT_EVENTS", "ChainCheck", "SealReport", "SegmentWriter", "seal"]
