"""The rows of a segment: the Parquet schema, and the columns derived from the canonical bytes.

A store hands over what it hashed (sequence, canonical bytes, prev_hash, hash). Every other
column is derived from the canonical bytes here, in one vectorised DuckDB query per page, so
the columns cannot disagree with the bytes the chain vouches for. (Hashes are computed with
hashlib, measured four times faster here than DuckDB's sha256.) `claire verify` checks the
stored columns against the canonical bytes as it checks a hot store's rows.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from claire.archive.location import ArchiveError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# Rows per Parquet row group: a single-event read decodes one row group of the columns it
# needs (16,384 canonical documents, ~8 MB), and a page of the store fetch is one row group.
ROW_GROUP_ROWS = 16_384
COLUMNS = (
    "sequence_number",
    "event_id",
    "event_type",
    "timestamp_utc",
    "timestamp_logical",
    "causation_id",
    "correlation_id",
    "symbol",
    "metadata",
    "payload",
    "prev_hash",
    "hash",
    "canonical",
)
# Small, repetitive columns: dictionary pages; statistics where a reader skips by them.
DICTIONARY_COLUMNS = ["event_type", "symbol", "metadata", "correlation_id"]
STATISTICS_COLUMNS = ["sequence_number", "timestamp_utc", "event_type", "symbol"]

_FIELDS = (
    "$.event_id",
    "$.event_type",
    "$.timestamp_utc",
    "$.timestamp_logical",
    "$.causation_id",
    "$.correlation_id",
    "$.payload.symbol",
    "$.payload.context.symbol",
    "$.payload",  # an object as its JSON text: one parse of the document for every column
    "$.metadata",
)
_FIELD_LIST = ", ".join(f"'{f}'" for f in _FIELDS)
# `raw`: sequence_number, canonical, prev_hash, hash (what the store hashed and chained).
DERIVE_SQL = f"""
SELECT sequence_number,
       f[1] AS event_id,
       f[2] AS event_type,
       CAST(f[3] AS TIMESTAMPTZ) AS timestamp_utc,
       CAST(f[4] AS BIGINT) AS timestamp_logical,
       f[5] AS causation_id,
       f[6] AS correlation_id,
       COALESCE(f[7], f[8]) AS symbol,
       f[10] AS metadata,
       f[9] AS payload,
       prev_hash,
       hash,
       canonical
FROM (
    SELECT *, json_extract_string(j, [{_FIELD_LIST}]) AS f
    FROM (SELECT *, decode(canonical) AS j FROM raw)
)
"""


@cache
def schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("sequence_number", pa.int64(), nullable=False),
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("event_type", pa.string(), nullable=False),
            pa.field("timestamp_utc", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("timestamp_logical", pa.int64(), nullable=False),
            pa.field("causation_id", pa.string()),
            pa.field("correlation_id", pa.string(), nullable=False),
            pa.field("symbol", pa.string()),
            pa.field("metadata", pa.string(), nullable=False),
            pa.field("payload", pa.string(), nullable=False),
            pa.field("prev_hash", pa.string(), nullable=False),
            pa.field("hash", pa.string(), nullable=False),
            pa.field("canonical", pa.binary(), nullable=False),
        ]
    )


def raw_table(
    sequence: list[int], canonical: list[bytes], prev_hash: list[str], hashes: list[str]
) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "sequence_number": pa.array(sequence, pa.int64()),
            "canonical": pa.array(canonical, pa.binary()),
            "prev_hash": pa.array(prev_hash, pa.string()),
            "hash": pa.array(hashes, pa.string()),
        }
    )


class Engine:
    """One DuckDB connection for the derive and check queries (thread-safe by a lock)."""

    def __init__(self) -> None:
        try:
            import duckdb
        except ImportError:
            raise ArchiveError(
                "the archive needs duckdb: pip install 'claire-eventstore[archive]'"
            ) from None
        self._con: duckdb.DuckDBPyConnection = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock = threading.Lock()

    def query(self, sql: str, **tables: Any) -> pa.Table:
        with self._lock:
            for name, table in tables.items():
                self._con.register(name, table)
            try:
                return self._con.sql(sql).to_arrow_table()
            except Exception as exc:  # duckdb's errors share no useful base class
                raise ArchiveError(f"archive query failed: {exc}") from None
            finally:
                for name in tables:
                    self._con.unregister(name)

    def derive(self, raw: pa.Table) -> pa.Table:
        """Every column of `raw`'s rows (see DERIVE_SQL)."""
        return self.query(DERIVE_SQL, raw=raw)

    def close(self) -> None:
        self._con.close()


def stored_part(derived: pa.Table) -> pa.Table:
    """The columns a segment stores, in schema order, typed exactly as the schema says."""
    return derived.select(list(COLUMNS)).cast(schema())


__all__ = [
    "COLUMNS",
    "DERIVE_SQL",
    "DICTIONARY_COLUMNS",
    "ROW_GROUP_ROWS",
    "STATISTICS_COLUMNS",
    "Engine",
    "raw_table",
    "schema",
    "stored_part",
]
