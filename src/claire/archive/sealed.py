"""The archived half of each read: what the sealed segments answer, in the port's terms.

`ArchivedEventStore` asks these for sequences up to its boundary and the hot store for the
rest, and merges the two (see claire.archive.store).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from claire.archive.reader import ArchiveReader
from claire.archive.rows import COLUMNS
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.store.port import (
    BarRow,
    ChainRecord,
    SymbolStats,
    TypeStats,
    columns_document,
    decode_page,
)

if TYPE_CHECKING:
    import pyarrow as pa

MARKET_DATA = EventType.MARKET_DATA.value
SNAPSHOT = EventType.STATE_SNAPSHOT.value


def events_of(table: pa.Table | None) -> list[BaseEvent]:
    if table is None or table.num_rows == 0:
        return []
    return decode_page(
        zip(
            table.column("sequence_number").to_pylist(),
            table.column("canonical").to_pylist(),
            strict=True,
        )
    )


def keep(table: pa.Table, types: Sequence[str] | None, symbol: str | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    if types:
        table = table.filter(pc.is_in(table.column("event_type"), value_set=pa.array(types)))
    if symbol is not None:
        table = table.filter(pc.equal(table.column("symbol"), symbol))
    return table


def in_window(table: pa.Table, start: datetime | None, end: datetime | None) -> pa.Table:
    """The rows stamped start <= t < end."""
    import pyarrow.compute as pc

    if start is not None:
        table = table.filter(pc.greater_equal(table.column("timestamp_utc"), start))
    if end is not None:
        table = table.filter(pc.less(table.column("timestamp_utc"), end))
    return table


def archived_events(
    archive: ArchiveReader,
    first: int,
    last: int,
    types: Sequence[str] | None = None,
    correlation_id: UUID | None = None,
) -> Iterator[BaseEvent]:
    """Sealed events first..last in sequence order, a row group at a time."""
    if correlation_id is not None:
        sequences = [
            s for s in archive.lookup("correlation_id", correlation_id) if first <= s <= last
        ]
        table = archive.rows_at(sequences, ["canonical", "event_type"])
        if table is not None:
            yield from events_of(keep(table, types, None))
        return
    columns = ["canonical", "event_type"] if types else ["canonical"]
    for table in archive.groups(first, last, columns):
        yield from events_of(keep(table, types, None))


# The stored columns a ChainRecord needs (all but the helper column `symbol`).
ALL_COLUMNS = tuple(c for c in COLUMNS if c not in {"sequence_number", "symbol"})


def chain_records(table: pa.Table) -> Iterator[ChainRecord]:
    """ChainRecords of archived rows (the columns as stored, beside the hashed bytes)."""
    columns: dict[str, list[Any]] = {
        name: table.column(name).to_pylist() for name in table.column_names
    }
    for i, seq in enumerate(columns["sequence_number"]):
        yield ChainRecord(
            sequence_number=seq,
            event_id=columns["event_id"][i],
            prev_hash=columns["prev_hash"][i],
            hash=columns["hash"][i],
            canonical=columns["canonical"][i],
            columns=columns_document(
                event_id=columns["event_id"][i],
                event_type=columns["event_type"][i],
                timestamp_utc=format_utc(columns["timestamp_utc"][i]),
                timestamp_logical=columns["timestamp_logical"][i],
                causation_id=columns["causation_id"][i],
                correlation_id=columns["correlation_id"][i],
                metadata=orjson.loads(columns["metadata"][i]),
                payload=orjson.loads(columns["payload"][i]),
            ),
        )


def merge_symbol(merged: dict[str, SymbolStats], stats: SymbolStats) -> None:
    known = merged.get(stats.symbol)
    if known is None:
        merged[stats.symbol] = stats
        return
    merged[stats.symbol] = SymbolStats(
        stats.symbol,
        known.bars + stats.bars,
        min(known.first_sequence, stats.first_sequence),
        max(known.last_sequence, stats.last_sequence),
        min(known.first_time, stats.first_time),
        max(known.last_time, stats.last_time),
    )


def merge_type(merged: dict[str, TypeStats], stats: TypeStats) -> None:
    known = merged.get(stats.event_type)
    if known is None:
        merged[stats.event_type] = stats
        return
    merged[stats.event_type] = TypeStats(
        stats.event_type,
        known.count + stats.count,
        min(known.first, stats.first),
        max(known.last, stats.last),
    )


def sealed_bars(archive: ArchiveReader, first: int, last: int, symbol: str | None) -> list[BarRow]:
    """The market_data bars of first..last (of one symbol, or all)."""
    rows: list[BarRow] = []
    if first <= last:
        columns = ["event_type", "symbol", "timestamp_utc", "payload"]
        for table in archive.groups(first, last, columns):
            kept = keep(table, [MARKET_DATA], symbol)
            for seq, stamp, name, payload in zip(
                kept.column("sequence_number").to_pylist(),
                kept.column("timestamp_utc").to_pylist(),
                kept.column("symbol").to_pylist(),
                kept.column("payload").to_pylist(),
                strict=True,
            ):
                p = orjson.loads(payload)
                rows.append(
                    BarRow(
                        seq,
                        stamp,
                        name,
                        p["price"],
                        p.get("open"),
                        p.get("high"),
                        p.get("low"),
                        p["volume"],
                    )
                )
    return rows


def sealed_symbol_stats(archive: ArchiveReader, first: int, last: int) -> dict[str, SymbolStats]:
    """Market data per symbol in first..last."""
    merged: dict[str, SymbolStats] = {}
    if first <= last:
        columns = ["event_type", "symbol", "timestamp_utc"]
        for table in archive.groups(first, last, columns):
            kept = keep(table, [MARKET_DATA], None)
            groups = kept.group_by("symbol").aggregate(
                [
                    ("sequence_number", "count"),
                    ("sequence_number", "min"),
                    ("sequence_number", "max"),
                    ("timestamp_utc", "min"),
                    ("timestamp_utc", "max"),
                ]
            )
            for row in groups.to_pylist():
                merge_symbol(
                    merged,
                    SymbolStats(
                        row["symbol"],
                        row["sequence_number_count"],
                        row["sequence_number_min"],
                        row["sequence_number_max"],
                        row["timestamp_utc_min"],
                        row["timestamp_utc_max"],
                    ),
                )
    return merged


def sealed_type_stats(
    archive: ArchiveReader, boundary: int, since: datetime | None, until: datetime | None
) -> dict[str, TypeStats]:
    """Count, first and last timestamp per type of the events up to `boundary` stamped
    since <= t < until."""
    merged: dict[str, TypeStats] = {}
    for manifest in archive.catalog.covering(1, boundary):
        if since is not None and manifest.last_time < format_utc(since):
            continue
        if until is not None and manifest.first_time >= format_utc(until):
            continue
        segment = archive.segment(manifest)
        for table in segment.groups(1, boundary, ["event_type", "timestamp_utc"]):
            groups = (
                in_window(table, since, until)
                .group_by("event_type")
                .aggregate(
                    [
                        ("timestamp_utc", "count"),
                        ("timestamp_utc", "min"),
                        ("timestamp_utc", "max"),
                    ]
                )
            )
            for row in groups.to_pylist():
                merge_type(
                    merged,
                    TypeStats(
                        row["event_type"],
                        row["timestamp_utc_count"],
                        row["timestamp_utc_min"],
                        row["timestamp_utc_max"],
                    ),
                )
    return merged


__all__ = [
    "ALL_COLUMNS",
    "MARKET_DATA",
    "SNAPSHOT",
    "archived_events",
    "chain_records",
    "events_of",
    "in_window",
    "keep",
    "merge_symbol",
    "merge_type",
    "sealed_bars",
    "sealed_symbol_stats",
    "sealed_type_stats",
]
