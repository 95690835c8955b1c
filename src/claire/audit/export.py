"""Export a range of the log for an auditor, in a form that can be checked on its own later.

JSON Lines: one line per stored event, `{"sequence_number", "event_id", "prev_hash", "hash",
"event"}` where `event` is the canonical document (its sorted-key encoding is exactly the bytes
that were hashed), then one final manifest line `{"manifest": {...}}` with the selection, the
count, the sequence range and the head hash of the range. Exports are deterministic: the same
selection of the same log gives the same bytes (no export time is written).

CSV: the same fields as columns, `canonical` holding the hashed JSON text; the manifest goes to a
`<file>.manifest.json` beside it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from uuid import UUID

import orjson

from claire.errors import NotFoundError
from claire.events.values import format_utc
from claire.store.port import ChainRecord, EventStore, columns_document

EXPORT_FORMAT = "claire-export"
EXPORT_VERSION = 1
CSV_COLUMNS = (
    "sequence_number",
    "event_id",
    "event_type",
    "timestamp_utc",
    "timestamp_logical",
    "causation_id",
    "correlation_id",
    "prev_hash",
    "hash",
    "canonical",
)


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: a sequence range, a correlation id, or a time range (start <= t < end)."""

    first: int | None = None
    last: int | None = None
    correlation_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def to_document(self) -> dict[str, Any]:
        if self.correlation_id is not None:
            return {"correlation_id": str(self.correlation_id)}
        if self.first is not None:
            return {"from_sequence": self.first, "to_sequence": self.last}
        return {
            "from": format_utc(self.since) if self.since else None,
            "until": format_utc(self.until) if self.until else None,
        }

    def describe(self) -> str:
        if self.correlation_id is not None:
            return f"correlation id {self.correlation_id}"
        if self.first is not None:
            return f"sequence range {self.first}..{self.last}"
        return f"time range {self.to_document()['from']} to {self.to_document()['until']}"


@dataclass(slots=True)
class Manifest:
    selection: Selection
    count: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    first_prev_hash: str | None = None
    head_hash: str | None = None
    contiguous: bool = True
    store_head: dict[str, Any] = field(default_factory=dict)

    def add(self, record: ChainRecord) -> None:
        if self.last_sequence is None:
            self.first_sequence, self.first_prev_hash = record.sequence_number, record.prev_hash
        elif record.sequence_number != self.last_sequence + 1:
            self.contiguous = False
        self.count += 1
        self.last_sequence, self.head_hash = record.sequence_number, record.hash

    def to_document(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "selection": self.selection.to_document(),
            "count": self.count,
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "first_prev_hash": self.first_prev_hash,
            "head_hash": self.head_hash,
            "contiguous": self.contiguous,
            "store_head": self.store_head,
        }


def _runs(sequences: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Sorted sequence numbers as (first, last) runs of consecutive numbers."""
    start = prev = None
    for seq in sequences:
        if start is None or prev is None:
            start = prev = seq
        elif seq == prev + 1:
            prev = seq
        else:
            yield start, prev
            start = prev = seq
    if start is not None and prev is not None:
        yield start, prev


def select_records(store: EventStore, selection: Selection) -> Iterator[ChainRecord]:
    """The stored rows a selection names, in sequence order."""
    if selection.first is not None:
        yield from store.iter_records(selection.first, selection.last)
        return
    if selection.correlation_id is not None:
        events: Iterable[Any] = store.read(correlation_id=selection.correlation_id)
    else:
        events = store.read_time_range(selection.since, selection.until)
    sequences = (e.sequence_number for e in events if e.sequence_number is not None)
    for first, last in _runs(sequences):
        yield from store.iter_records(first, last)


def export_line(record: ChainRecord) -> dict[str, Any]:
    return {
        "sequence_number": record.sequence_number,
        "event_id": record.event_id,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "event": orjson.loads(record.canonical),
    }


def _nothing_selected(store: EventStore, selection: Selection) -> NotFoundError:
    head = store.head().sequence_number
    return NotFoundError(f"no events in {selection.describe()} (the log holds 1..{head})")


def write_jsonl(store: EventStore, selection: Selection, out: IO[bytes]) -> Manifest:
    """Write the selection as JSON Lines with a final manifest line; NotFoundError if empty."""
    manifest = Manifest(selection)
    for record in select_records(store, selection):
        manifest.add(record)
        out.write(orjson.dumps(export_line(record), option=orjson.OPT_APPEND_NEWLINE))
    if manifest.count == 0:
        raise _nothing_selected(store, selection)
    head = store.head()
    manifest.store_head = {"sequence_number": head.sequence_number, "hash": head.hash}
    out.write(orjson.dumps({"manifest": manifest.to_document()}, option=orjson.OPT_APPEND_NEWLINE))
    return manifest


def write_csv(store: EventStore, selection: Selection, out: IO[str]) -> Manifest:
    """Write the selection as CSV (manifest returned, for the caller to place beside it)."""
    manifest = Manifest(selection)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in select_records(store, selection):
        manifest.add(record)
        columns = record.columns
        writer.writerow(
            [
                record.sequence_number,
                record.event_id,
                columns["event_type"],
                columns["timestamp_utc"],
                columns["timestamp_logical"],
                columns["causation_id"] or "",
                columns["correlation_id"],
                record.prev_hash,
                record.hash,
                record.canonical.decode(),
            ]
        )
    if manifest.count == 0:
        raise _nothing_selected(store, selection)
    head = store.head()
    manifest.store_head = {"sequence_number": head.sequence_number, "hash": head.hash}
    return manifest


def read_jsonl_export(lines: Iterable[bytes]) -> tuple[list[ChainRecord], dict[str, Any] | None]:
    """Records and manifest of a JSON Lines export, as ChainRecords that `check_chain` takes.

    A record's `canonical` is re-encoded from its `event` document with sorted keys (the same
    encoding that was hashed); its `columns` are the same document, so the columns check
    compares the line's event with itself and the hash check does the work.
    """
    records: list[ChainRecord] = []
    manifest: dict[str, Any] | None = None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from None
        if not isinstance(line, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        if "manifest" in line:
            manifest = line["manifest"]
            continue
        try:
            event = line["event"]
            records.append(
                ChainRecord(
                    sequence_number=int(line["sequence_number"]),
                    event_id=str(line["event_id"]),
                    prev_hash=str(line["prev_hash"]),
                    hash=str(line["hash"]),
                    canonical=orjson.dumps(event, option=orjson.OPT_SORT_KEYS),
                    columns=columns_document(**event),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {number}: not an export record ({exc})") from None
    return records, manifest
