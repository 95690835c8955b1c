"""Export a range of the log for an auditor, in a form that can be checked on its own later.

JSON Lines: one line per stored event, `{"sequence_number", "event_id", "prev_hash", "hash",
"event"}` where `event` is the canonical document (its sorted-key encoding is exactly the bytes
that were hashed), then one final manifest line `{"manifest": {...}}` with the selection, the
count, and the `runs` of consecutive sequence numbers, each with the prev_hash its first event
links to and the hash of its last event. The manifest is signed with the checkpoint key
(`claire.audit.keys`). Inside a run every event's prev_hash is its predecessor's hash, so a
run's two signed hashes pin every event of it: no line can be removed, added, reordered or
edited (even with recomputed hashes) without the file disagreeing with the signed manifest.
Exports are deterministic for one key: the same selection of the same log gives the same bytes
(no export time is written; Ed25519 signatures are deterministic).

CSV: the same fields as columns, `canonical` holding the hashed JSON text; the manifest goes to a
`<file>.manifest.json` beside it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

import orjson

from claire.audit.keys import sign_document
from claire.errors import NotFoundError
from claire.events.values import format_utc
from claire.store.port import ChainRecord, EventStore, columns_document

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EXPORT_FORMAT = "claire-export"
EXPORT_VERSION = 2  # 2: signed, with `runs`
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
        document = self.to_document()
        start = document["from"] or "the first event"
        if document["until"] is None:
            return f"time range from {start} on"
        return f"time range from {start} up to (not including) {document['until']}"


@dataclass(slots=True)
class Manifest:
    selection: Selection
    count: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    first_prev_hash: str | None = None
    head_hash: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    store_head: dict[str, Any] = field(default_factory=dict)

    @property
    def contiguous(self) -> bool:
        return len(self.runs) <= 1

    def add(self, record: ChainRecord) -> None:
        if self.last_sequence is None:
            self.first_sequence, self.first_prev_hash = record.sequence_number, record.prev_hash
        if self.last_sequence is not None and record.sequence_number == self.last_sequence + 1:
            run = self.runs[-1]
            run["last_sequence"], run["last_hash"] = record.sequence_number, record.hash
        else:
            self.runs.append(
                {
                    "first_sequence": record.sequence_number,
                    "last_sequence": record.sequence_number,
                    "prev_hash": record.prev_hash,
                    "last_hash": record.hash,
                }
            )
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
            "runs": self.runs,
            "store_head": self.store_head,
        }

    def signed(self, key: Ed25519PrivateKey) -> dict[str, Any]:
        """The manifest document with the signer's public key and signature."""
        return sign_document(key, self.to_document())


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
    held = f"the log holds sequence 1 → {head}" if head else "the log is empty"
    return NotFoundError(f"no events in {selection.describe()} ({held})")


def write_jsonl(
    store: EventStore, selection: Selection, out: IO[bytes], key: Ed25519PrivateKey
) -> Manifest:
    """Write the selection as JSON Lines with a final signed manifest line; NotFoundError if
    nothing is selected."""
    manifest = Manifest(selection)
    for record in select_records(store, selection):
        manifest.add(record)
        out.write(orjson.dumps(export_line(record), option=orjson.OPT_APPEND_NEWLINE))
    if manifest.count == 0:
        raise _nothing_selected(store, selection)
    head = store.head()
    manifest.store_head = {"sequence_number": head.sequence_number, "hash": head.hash}
    out.write(orjson.dumps({"manifest": manifest.signed(key)}, option=orjson.OPT_APPEND_NEWLINE))
    return manifest


def write_csv(store: EventStore, selection: Selection, out: IO[str]) -> Manifest:
    """Write the selection as CSV (the manifest is returned: the caller signs it and places it
    beside the file, see `write_manifest`)."""
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


def write_manifest(path: Path, manifest: Manifest, key: Ed25519PrivateKey) -> None:
    """The signed manifest of a CSV export, as `{"manifest": {...}}` in its own file."""
    path.write_bytes(orjson.dumps({"manifest": manifest.signed(key)}, option=orjson.OPT_INDENT_2))


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
