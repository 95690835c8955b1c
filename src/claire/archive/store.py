"""One log wherever it lies: the EventStore port over the archive and the hot store together.

`ArchivedEventStore(hot, archive)` serves every sequence up to the hot store's
`pruned_through()` from the sealed segments and everything after it from the hot store, so
each read sees one log in sequence order, with no gap or overlap at the boundary. Appends go
to the hot store, which keeps every id it ever stored (idempotency and causation reach into
the archive). Before anything is pruned the boundary is 0 and every read is the hot store's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from claire.archive.location import ArchiveError
from claire.archive.reader import ArchiveReader
from claire.archive.sealed import (
    ALL_COLUMNS,
    SNAPSHOT,
    archived_events,
    chain_records,
    events_of,
    in_window,
    keep,
    merge_symbol,
    merge_type,
    sealed_bars,
    sealed_symbol_stats,
    sealed_type_stats,
)
from claire.errors import ArchiveBoundaryError, ArchivedEventError, EventConflictError, StoreError
from claire.events.codec import same_stored_event
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.store.port import (
    DEFAULT_BATCH_SIZE,
    LAST_SEQUENCE,
    BarRow,
    Batch,
    ChainRecord,
    EventStore,
    Expectation,
    Head,
    LinkedRecord,
    SymbolStats,
    TypeStats,
    check_range,
    decode_page,
)

# How many times a conditional append counts the archive again when a prune moved the boundary
# between the count and the append (each prune moves it once; more in a row is a runaway).
BOUNDARY_RETRIES = 5


def _subset(batch: Batch, indexes: list[int]) -> Batch:
    return Batch(
        [batch.events[i] for i in indexes],
        [batch.documents[i] for i in indexes],
        [batch.canonical[i] for i in indexes],
    )


class ArchivedEventStore(EventStore):
    def __init__(self, hot: EventStore, archive: ArchiveReader) -> None:
        self.hot = hot
        self.archive = archive
        self.url = hot.url

    # --- the boundary ------------------------------------------------------------------------
    def boundary(self) -> int:
        """The last sequence served from the archive (what the hot store no longer holds)."""
        pruned = self.hot.pruned_through()
        if pruned > self.archive.last_sequence:
            self.archive = ArchiveReader(self.archive.location)  # sealed since we looked
            if pruned > self.archive.last_sequence:
                raise ArchiveError(
                    f"the store pruned sequences 1..{pruned} but the archive at "
                    f"{self.archive.location.url} ends at {self.archive.last_sequence}"
                )
        return pruned

    # --- writing -----------------------------------------------------------------------------
    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        """Appends go to the hot store. `expected_version` counts the correlation's archived
        events (up to the boundary, from the archive's index) plus the hot store's, which
        checks in its transaction that the boundary has not moved since; if a prune moved it
        in between, the archive is counted again."""
        if expect is None or expect.version is None or expect.correlation_id is None:
            return self._append_hot(batch, expect)
        for _ in range(BOUNDARY_RETRIES):
            boundary = self.boundary()
            archived = 0
            if boundary:
                found = self.archive.lookup("correlation_id", expect.correlation_id)
                archived = len({s for s in found if s <= boundary})
            try:
                return self._append_hot(
                    batch, replace(expect, archived=archived, boundary=boundary)
                )
            except ArchiveBoundaryError:
                continue  # pruned since we counted: count again
        raise StoreError(
            f"expected_version: the store was pruned {BOUNDARY_RETRIES} times while the archive "
            "was being counted; retry the append"
        )

    def _append_hot(self, batch: Batch, expect: Expectation | None) -> list[int]:
        try:
            return self.hot._append(batch, expect)
        except ArchivedEventError as exc:
            archived = self._archived_ids(batch, exc.archived)
        rest = [i for i, e in enumerate(batch.events) if e.event_id not in archived]
        numbers = self.hot._append(_subset(batch, rest), expect) if rest else []
        stored = dict(zip((batch.events[i].event_id for i in rest), numbers, strict=True))
        return [archived.get(e.event_id) or stored[e.event_id] for e in batch.events]

    def _archived_ids(self, batch: Batch, archived: dict[Any, int]) -> dict[UUID, int]:
        """Ids of the batch that live in the archive: a repeat returns the stored sequence,
        other content is a conflict (events are immutable)."""
        table = self.archive.rows_at(sorted(archived.values()), ["canonical"])
        sealed = (
            dict(
                zip(
                    table.column("sequence_number").to_pylist(),
                    table.column("canonical").to_pylist(),
                    strict=True,
                )
            )
            if table is not None
            else {}
        )
        for index, (event, data) in enumerate(zip(batch.events, batch.canonical, strict=True)):
            sequence = archived.get(event.event_id)
            if sequence is not None and not same_stored_event(sealed.get(sequence, b""), data):
                raise EventConflictError(
                    f"events[{index}] event_id {event.event_id}: already stored (sequence "
                    f"{sequence}, archived) with different content (events are immutable; use "
                    "a new event_id)"
                )
        return {UUID(str(i)): s for i, s in archived.items()}

    # --- reading -----------------------------------------------------------------------------
    def head(self) -> Head:
        return self.hot.head()

    def get(self, event_id: UUID) -> BaseEvent | None:
        found = self.hot.get(event_id)
        if found is not None:
            return found
        last = self.boundary()
        if not last:
            return None
        sequences = [s for s in self.archive.lookup("event_id", event_id) if s <= last]
        events = events_of(self.archive.rows_at(sequences[:1], ["canonical"]))
        return events[0] if events else None

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
        return self._read(
            from_sequence,
            to_sequence,
            limit,
            event_types=event_types,
            correlation_id=correlation_id,
            batch_size=batch_size,
        )

    def _read(
        self,
        first: int,
        last: int | None,
        limit: int | None,
        *,
        event_types: Sequence[EventType] | None,
        correlation_id: UUID | None,
        batch_size: int,
    ) -> Iterator[BaseEvent]:
        types = [EventType(t).value for t in event_types] if event_types else None
        remaining = limit
        boundary = self.boundary()
        top = min(LAST_SEQUENCE if last is None else last, boundary)
        if first <= top:
            for event in archived_events(self.archive, first, top, types, correlation_id):
                if remaining is not None and remaining <= 0:
                    return
                yield event
                if remaining is not None:
                    remaining -= 1
        if remaining == 0 or (last is not None and last <= boundary):
            return
        yield from self.hot.read(
            max(first, boundary + 1),
            last,
            limit=remaining,
            event_types=event_types,
            correlation_id=correlation_id,
            batch_size=batch_size,
        )

    def read_time_range(
        self, start: datetime | None, end: datetime | None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[BaseEvent]:

        boundary = self.boundary()
        for manifest in self.archive.catalog.covering(1, boundary):
            if start is not None and manifest.last_time < format_utc(start):
                continue
            if end is not None and manifest.first_time >= format_utc(end):
                continue
            segment = self.archive.segment(manifest)
            for table in segment.groups(1, boundary, ["canonical", "timestamp_utc"]):
                yield from events_of(in_window(table, start, end))
        for event in self.hot.read_time_range(start, end, batch_size=batch_size):
            if (event.sequence_number or 0) > boundary:
                yield event

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
        boundary = self.boundary()
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        types = [EventType(t).value for t in event_types] if event_types else None

        def hot(limit: int | None) -> list[BaseEvent]:
            if last <= boundary or limit == 0:
                return []
            return self.hot.find_events(
                symbol=symbol,
                event_types=event_types,
                from_sequence=max(from_sequence, boundary + 1),
                to_sequence=to_sequence,
                limit=limit,
                newest_first=newest_first,
            )

        def archived(limit: int | None) -> list[BaseEvent]:
            import pyarrow as pa

            found: list[BaseEvent] = []
            top = min(last, boundary)
            if from_sequence > top or limit == 0:
                return found
            columns = ["canonical", "event_type", "symbol"]
            for table in self.archive.groups(
                from_sequence, top, columns, newest_first=newest_first
            ):
                kept = keep(table, types, symbol)
                if newest_first:
                    kept = kept.take(pa.array(range(kept.num_rows - 1, -1, -1), pa.int64()))
                found.extend(events_of(kept))
                if limit is not None and len(found) >= limit:
                    return found[:limit]
            return found

        first, second = (hot, archived) if newest_first else (archived, hot)
        result = first(limit)
        return result + second(None if limit is None else limit - len(result))

    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        check_range(from_sequence, to_sequence, None)
        boundary = self.boundary()
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        rows = sealed_bars(self.archive, from_sequence, min(last, boundary), symbol)
        if last > boundary:
            rows.extend(self.hot.bars(symbol, max(from_sequence, boundary + 1), to_sequence))
        return rows

    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        boundary = self.boundary()
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        merged = sealed_symbol_stats(self.archive, from_sequence, min(last, boundary))
        if last > boundary:
            for stats in self.hot.symbol_stats(max(from_sequence, boundary + 1), to_sequence):
                merge_symbol(merged, stats)
        return [merged[s] for s in sorted(merged, key=lambda s: (s is None, s))]

    def sequence_at(self, when: datetime) -> int:
        import pyarrow.compute as pc

        boundary = self.boundary()
        for manifest in self.archive.catalog.covering(1, boundary):
            if manifest.last_time <= format_utc(when):
                continue
            for table in self.archive.segment(manifest).groups(1, boundary, ["timestamp_utc"]):
                after = pc.greater(table.column("timestamp_utc"), when)
                if pc.any(after).as_py():
                    index = int(pc.index(after, True).as_py())
                    return int(table.column("sequence_number")[index].as_py()) - 1
        return self.hot.sequence_at(when)

    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        chain = self.hot.causation_chain(event_id)
        if not chain:
            event = self.get(event_id)
            if event is None:
                return []
            chain = [event]
        while chain[0].causation_id is not None:
            cause = self.get(chain[0].causation_id)
            if cause is None:
                break
            chain.insert(0, cause)
        return chain

    def effects(self, event_id: UUID) -> list[BaseEvent]:
        boundary = self.boundary()
        if not boundary:
            return self.hot.effects(event_id)
        found: dict[int, BaseEvent] = {}
        frontier = [event_id]
        while frontier:  # archived children are looked up; a hot event's are all hot
            current = frontier.pop()
            for event in self.hot.effects(current):
                found[event.sequence_number or 0] = event
            sequences = [s for s in self.archive.lookup("causation_id", current) if s <= boundary]
            for event in events_of(self.archive.rows_at(sequences, ["canonical"])):
                if (event.sequence_number or 0) not in found:
                    found[event.sequence_number or 0] = event
                    frontier.append(event.event_id)
        return [found[s] for s in sorted(found)]

    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:

        boundary = self.boundary()
        merged = sealed_type_stats(self.archive, boundary, since, until)
        for stats in self.hot.stats(since, until):
            merge_type(merged, stats)
        return [merged[t] for t in sorted(merged)]

    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        import pyarrow.compute as pc

        best = self.hot.latest_snapshot(at_or_below)
        best_at = int(best.payload["at_sequence"]) if best is not None else -1
        boundary = self.boundary()
        for segment in self.archive.segments(1, boundary, newest_first=True):
            if segment.manifest.last_sequence <= best_at:
                break  # a snapshot comes after the point it describes
            for table in segment.groups(1, boundary, ["event_type", "payload", "canonical"]):
                kept = table.filter(pc.equal(table.column("event_type"), SNAPSHOT))
                for seq, payload, data in zip(
                    kept.column("sequence_number").to_pylist(),
                    kept.column("payload").to_pylist(),
                    kept.column("canonical").to_pylist(),
                    strict=True,
                ):
                    at = int(orjson.loads(payload)["at_sequence"])
                    # The first snapshot written for a point wins: an archived one beats a hot
                    # one for the same point, and within the archive the earlier row does.
                    better = at > best_at or (
                        at == best_at and best is not None and seq < (best.sequence_number or 0)
                    )
                    if at <= at_or_below and at < seq and better:
                        best, best_at = decode_page([(seq, data)])[0], at
        return best

    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        check_range(from_sequence, to_sequence, None)
        return self._records(from_sequence, to_sequence)

    def _records(self, first: int, last: int | None) -> Iterator[ChainRecord]:
        boundary = self.boundary()
        top = min(LAST_SEQUENCE if last is None else last, boundary)
        if first <= top:
            for table in self.archive.groups(first, top, ALL_COLUMNS):
                yield from chain_records(table)
        if last is None or last > boundary:
            yield from self.hot.iter_records(max(first, boundary + 1), last)

    def linked_records(self, sequences: Collection[int]) -> dict[int, LinkedRecord]:
        boundary = self.boundary()
        archived = sorted(s for s in sequences if 1 <= s <= boundary)
        found = self.hot.linked_records([s for s in sequences if s > boundary])
        if not archived:
            return found
        # Each row with the prev_hash of the row after it (the first hot row after the last).
        wanted = sorted({*archived, *(s + 1 for s in archived if s < boundary)})
        table = self.archive.rows_at(wanted, ALL_COLUMNS)
        records = {r.sequence_number: r for r in chain_records(table)} if table else {}
        after = self.hot.linked_records([boundary + 1]).get(boundary + 1)
        for seq in archived:
            record = records.get(seq)
            if record is None:
                continue
            following = records.get(seq + 1)
            if seq == boundary:
                next_prev = after.record.prev_hash if after is not None else None
            else:
                next_prev = following.prev_hash if following is not None else None
            found[seq] = LinkedRecord(record, next_prev, next_prev is None)
        return found

    # --- lifecycle ---------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        return self.hot.migrate()

    def close(self) -> None:
        self.hot.close()


def attach_archive(store: EventStore, url: str) -> ArchivedEventStore:
    """`store` read together with the archive at `url`."""
    from claire.archive.location import open_location

    return ArchivedEventStore(store, ArchiveReader(open_location(url)))


__all__ = [
    "ALL_COLUMNS",
    "ArchivedEventStore",
    "archived_events",
    "attach_archive",
    "chain_records",
]
