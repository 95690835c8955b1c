"""`claire sql`: DuckDB over one view `events` spanning the archive's segments and the hot store.

The view has the seed's columns (`payload` and `metadata` as JSON, `timestamp_utc` a
TIMESTAMPTZ in UTC), plus `symbol`, `prev_hash` and `hash`. Sealed sequences come from the
segments' Parquet files (DuckDB's own reader for a local archive, pyarrow's filesystems for an
object store); the sequences after the archive's end come from the hot store, fetched as the
chain stores them and derived into the same columns through Arrow, exactly as sealing derives
them. No DuckDB extension is installed or loaded at run time (JSON and Parquet are built in).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claire.archive.catalog import Catalog
from claire.archive.location import ArchiveError, Location
from claire.archive.rows import COLUMNS, ROW_GROUP_ROWS, Engine, raw_table
from claire.store.port import EventStore

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# Every stored column but the canonical bytes (which the view's columns are derived from).
VIEW_COLUMNS = tuple(c for c in COLUMNS if c != "canonical")
_SELECT = ", ".join(
    f"CAST({c} AS JSON) AS {c}" if c in {"metadata", "payload"} else c for c in VIEW_COLUMNS
)


@dataclass(frozen=True, slots=True)
class SqlResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _hot_batches(
    hot: EventStore, first: int, last: int, engine: Engine
) -> Iterator[pa.RecordBatch]:
    for page in hot.raw_pages(first, last, ROW_GROUP_ROWS):
        derived = engine.derive(raw_table(page.sequence, page.canonical, page.prev_hash, page.hash))
        yield from derived.select(list(VIEW_COLUMNS)).to_batches()


def _hot_table(hot: EventStore | None, after: int) -> pa.Table:
    import pyarrow as pa

    from claire.archive.rows import schema

    fields = [schema().field(c) for c in VIEW_COLUMNS]
    empty = pa.schema(fields)
    if hot is None:
        return empty.empty_table()
    head = hot.head().sequence_number
    if head <= after:
        return empty.empty_table()
    engine = Engine()
    try:
        batches = list(_hot_batches(hot, after + 1, head, engine))
    finally:
        engine.close()
    return pa.Table.from_batches(batches).cast(empty) if batches else empty.empty_table()


def connect(hot: EventStore | None, location: Location | None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the view `events` over archive + hot store."""
    try:
        import duckdb
    except ImportError:
        raise ArchiveError(
            "claire sql needs duckdb: pip install 'claire-eventstore[archive]'"
        ) from None
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET TimeZone = 'UTC'")
    catalog = Catalog.load(location) if location is not None else None
    sealed_through = catalog.last_sequence if catalog is not None else 0
    parts = []
    if catalog is not None and catalog.segments:
        assert location is not None
        _register_archive(con, location, catalog)
        parts.append(f"SELECT {_SELECT} FROM archived")
    con.register("hot_rows", _hot_table(hot, sealed_through))
    con.execute(f"CREATE TEMP TABLE hot AS SELECT {_SELECT} FROM hot_rows")
    con.unregister("hot_rows")
    parts.append(f"SELECT {', '.join(VIEW_COLUMNS)} FROM hot")
    con.execute(f"CREATE TEMP VIEW events AS {' UNION ALL '.join(parts)}")
    return con


def _register_archive(con: duckdb.DuckDBPyConnection, location: Location, catalog: Catalog) -> None:
    import pyarrow.fs as pafs

    paths = [location.path(m.data.name) for m in catalog.segments]
    if isinstance(location.fs, pafs.LocalFileSystem):
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        con.execute(f"CREATE TEMP VIEW archived AS SELECT * FROM read_parquet([{files}])")
        return
    import pyarrow.dataset as ds

    con.register("archived", ds.dataset(paths, filesystem=location.fs, format="parquet"))


def run_sql(hot: EventStore | None, location: Location | None, query: str) -> SqlResult:
    con = connect(hot, location)
    try:
        try:
            cursor = con.execute(query)
        except Exception as exc:  # duckdb's errors share no useful base class
            # One line: the first paragraph (DuckDB puts its "LINE 1: ..." excerpt after a blank).
            first = " ".join(str(exc).strip().split("\n\n", 1)[0].split())
            raise ArchiveError(f"sql: {first or type(exc).__name__}") from None
        columns = [d[0] for d in cursor.description or []]
        return SqlResult(columns, cursor.fetchall() if columns else [])
    finally:
        con.close()


__all__ = ["VIEW_COLUMNS", "SqlResult", "connect", "run_sql"]
