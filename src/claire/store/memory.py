"""In-process adapter: the reference behaviour of the port, for tests and embedded use."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from uuid import UUID

from claire.events.codec import GENESIS_HASH, decode_event
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.store.port import (
    DEFAULT_BATCH_SIZE,
    BarRow,
    Batch,
    ChainRecord,
    EventStore,
    Expectation,
    Head,
    LinkedRecord,
    Row,
    SymbolStats,
    TypeStats,
    check_range,
    event_symbol,
    plan_append,
    repeat_or_refuse,
)


class MemoryEventStore(EventStore):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._rows: list[Row] = []
        self._by_id: dict[UUID, Row] = {}
        self._children: dict[UUID, list[UUID]] = {}
        self._correlations: dict[UUID, list[int]] = {}  # sequences of each correlation id
        self._lock = threading.RLock()

    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        with self._lock:
            existing = {
                i: (self._by_id[i].sequence_number, self._by_id[i].canonical)
                for i in batch.ids
                if i in self._by_id
            }
            head = self.head()
            if expect is not None:
                refused = expect.refusal(head.sequence_number, self._count_above)
                if refused is not None:
                    return repeat_or_refuse(refused, batch, existing)
            missing = {c for c in batch.external_causes() if c not in self._by_id}
            plan = plan_append(batch, head, existing, missing)
            # Store the decoded form so readers get exactly what a database would return. All
            # are decoded first: an event this code cannot read (a schema version newer than it
            # knows) refuses the whole batch here, where a database would refuse it on read.
            decoded = [
                Row(
                    row.sequence_number,
                    decode_event(row.canonical, row.sequence_number),
                    row.document,
                    row.canonical,
                    row.prev_hash,
                    row.hash,
                )
                for row in plan.rows
            ]
            for row, stored in zip(plan.rows, decoded, strict=True):
                self._rows.append(stored)
                self._by_id[row.event.event_id] = stored
                self._correlations.setdefault(row.event.correlation_id, []).append(
                    row.sequence_number
                )
                if row.event.causation_id is not None:
                    self._children.setdefault(row.event.causation_id, []).append(row.event.event_id)
            return plan.sequence_numbers

    def _count_above(self, correlation_id: UUID, boundary: int) -> int:
        """Events of the correlation numbered above `boundary`."""
        sequences = self._correlations.get(correlation_id, [])
        return len(sequences) - bisect_right(sequences, boundary)

    def get(self, event_id: UUID) -> BaseEvent | None:
        row = self._by_id.get(event_id)
        return row.event if row else None

    def read(
        self,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        *,
        limit: int | None = None,
        event_types: Sequence[EventType] | None = None,
        correlation_id: UUID | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[BaseEvent]:
        check_range(from_sequence, to_sequence, limit)
        wanted = set(event_types) if event_types else None
        count = 0
        index = from_sequence - 1
        while limit is None or count < limit:
            with self._lock:
                if index >= len(self._rows):
                    return
                event = self._rows[index].event
            index += 1
            if to_sequence is not None and index > to_sequence:
                return
            if wanted is not None and event.event_type not in wanted:
                continue
            if correlation_id is not None and event.correlation_id != correlation_id:
                continue
            count += 1
            yield event

    def read_time_range(
        self, start: datetime | None, end: datetime | None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[BaseEvent]:
        for event in self.read():
            if start is not None and event.timestamp_utc < start:
                continue
            if end is not None and event.timestamp_utc >= end:
                continue
            yield event

    def _slice(self, from_sequence: int, to_sequence: int | None) -> list[Row]:
        check_range(from_sequence, to_sequence, None)
        with self._lock:
            return self._rows[from_sequence - 1 : to_sequence]

    def find_events(
        self,
        *,
        symbol: str | None = None,
        event_types: Sequence[EventType] | None = None,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[BaseEvent]:
        check_range(from_sequence, to_sequence, limit)
        wanted = set(event_types) if event_types else None
        rows = self._slice(from_sequence, to_sequence)
        found: list[BaseEvent] = []
        for row in reversed(rows) if newest_first else rows:
            if limit is not None and len(found) >= limit:
                break
            event = row.event
            if wanted is not None and event.event_type not in wanted:
                continue
            if symbol is not None and event_symbol(event.payload) != symbol:
                continue
            found.append(event)
        return found

    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        found = []
        for row in self._slice(from_sequence, to_sequence):
            event, p = row.event, row.document["payload"]
            if event.event_type is not EventType.MARKET_DATA:
                continue
            if symbol is not None and p["symbol"] != symbol:
                continue
            found.append(
                BarRow(
                    row.sequence_number,
                    event.timestamp_utc,
                    p["symbol"],
                    p["price"],
                    p.get("open"),
                    p.get("high"),
                    p.get("low"),
                    p["volume"],
                )
            )
        return found

    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        table: dict[str, SymbolStats] = {}
        for bar in self.bars(None, from_sequence, to_sequence):
            seen = table.get(bar.symbol)
            table[bar.symbol] = (
                SymbolStats(
                    bar.symbol,
                    1,
                    bar.sequence_number,
                    bar.sequence_number,
                    bar.timestamp_utc,
                    bar.timestamp_utc,
                )
                if seen is None
                else SymbolStats(
                    bar.symbol,
                    seen.bars + 1,
                    seen.first_sequence,
                    bar.sequence_number,
                    min(seen.first_time, bar.timestamp_utc),
                    max(seen.last_time, bar.timestamp_utc),
                )
            )
        return [table[name] for name in sorted(table)]

    def sequence_at(self, when: datetime) -> int:
        with self._lock:
            for row in self._rows:
                if row.event.timestamp_utc > when:
                    return row.sequence_number - 1
            return len(self._rows)

    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        chain: list[BaseEvent] = []
        current = self.get(event_id)
        while current is not None:
            chain.append(current)
            current = self.get(current.causation_id) if current.causation_id else None
        return list(reversed(chain))

    def effects(self, event_id: UUID) -> list[BaseEvent]:
        found: list[BaseEvent] = []
        frontier = list(self._children.get(event_id, []))
        while frontier:
            child = frontier.pop()
            found.append(self._by_id[child].event)
            frontier.extend(self._children.get(child, []))
        return sorted(found, key=lambda e: e.sequence_number or 0)

    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:
        table: dict[str, TypeStats] = {}
        for event in self.read_time_range(since, until):
            kind, when = event.event_type.value, event.timestamp_utc
            seen = table.get(kind)
            table[kind] = (
                TypeStats(kind, 1, when, when)
                if seen is None
                else TypeStats(kind, seen.count + 1, min(seen.first, when), max(seen.last, when))
            )
        return [table[kind] for kind in sorted(table)]

    def head(self) -> Head:
        with self._lock:
            if not self._rows:
                return Head(0, GENESIS_HASH)
            last = self._rows[-1]
            return Head(last.sequence_number, last.hash)

    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        best: BaseEvent | None = None
        for row in self._rows:
            event = row.event
            if event.event_type is EventType.STATE_SNAPSHOT:
                at = int(event.payload["at_sequence"])
                if (
                    at <= at_or_below
                    and at < row.sequence_number
                    and (best is None or at > int(best.payload["at_sequence"]))  # first wins
                ):
                    best = event
        return best

    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        check_range(from_sequence, to_sequence, None)
        stop = len(self._rows) if to_sequence is None else min(to_sequence, len(self._rows))
        for row in self._rows[from_sequence - 1 : stop]:
            yield _chain_record(row)

    def linked_records(self, sequences: Collection[int]) -> dict[int, LinkedRecord]:
        with self._lock:
            rows, count = list(self._rows), len(self._rows)
        found: dict[int, LinkedRecord] = {}
        for seq in sorted(sequences):
            if 1 <= seq <= count:
                following = rows[seq].prev_hash if seq < count else None
                found[seq] = LinkedRecord(_chain_record(rows[seq - 1]), following, seq == count)
        return found


def _chain_record(row: Row) -> ChainRecord:
    return ChainRecord(
        row.sequence_number,
        str(row.event.event_id),
        row.prev_hash,
        row.hash,
        row.canonical,
        row.document,  # the stored form (row.event is upcast when its version is old)
    )


__all__ = ["MemoryEventStore"]
