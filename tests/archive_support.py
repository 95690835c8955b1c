"""A hot store that has moved all but its last events into an archive, for the port's tests.

`SealingStore` wraps a memory store: after every append it seals everything but the last
KEEP_HOT events into the archive and hides them, exactly as a pruned hot store would (reads
see only what follows `pruned_through()`, while ids stay known for idempotency and causes).
An `ArchivedEventStore` over it must then behave like any other store: the conformance suite
runs against it, with reads crossing the archive/hot boundary in nearly every test.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from claire.archive.location import Location
from claire.archive.seal import seal
from claire.errors import ArchiveBoundaryError
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.store.memory import MemoryEventStore
from claire.store.port import (
    DEFAULT_BATCH_SIZE,
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
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEEP_HOT = 2


class SealingStore(EventStore):
    def __init__(self, location: Location, key: Ed25519PrivateKey) -> None:
        self.inner = MemoryEventStore("memory://sealing")
        self.url = self.inner.url
        self.location = location
        self.key = key
        self.through = 0

    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        if expect is not None and expect.version is not None and expect.boundary != self.through:
            raise ArchiveBoundaryError(self.through, expect.boundary)  # as a pruned store would
        numbers = self.inner._append(batch, expect)  # counts the correlation above the boundary
        target = self.inner.head().sequence_number - KEEP_HOT
        if target > self.through:
            seal(self.inner, self.location, target, self.key, segment_events=256)
            self.through = target
        return numbers

    def pruned_through(self) -> int:
        return self.through

    def _hot(self, event: BaseEvent | None) -> BaseEvent | None:
        return event if event is not None and (event.sequence_number or 0) > self.through else None

    def _all_hot(self, events: Sequence[BaseEvent]) -> list[BaseEvent]:
        return [e for e in events if (e.sequence_number or 0) > self.through]

    def head(self) -> Head:
        return self.inner.head()

    def get(self, event_id: UUID) -> BaseEvent | None:
        return self._hot(self.inner.get(event_id))

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
        if to_sequence is not None and to_sequence <= self.through:
            return iter(())
        return self.inner.read(
            max(from_sequence, self.through + 1),
            to_sequence,
            limit=limit,
            event_types=event_types,
            correlation_id=correlation_id,
        )

    def read_time_range(
        self, start: datetime | None, end: datetime | None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[BaseEvent]:
        return iter(self._all_hot(list(self.inner.read_time_range(start, end))))

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
        if to_sequence is not None and to_sequence <= self.through:
            return []
        return self.inner.find_events(
            symbol=symbol,
            event_types=event_types,
            from_sequence=max(from_sequence, self.through + 1),
            to_sequence=to_sequence,
            limit=limit,
            newest_first=newest_first,
        )

    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        return [
            b
            for b in self.inner.bars(symbol, from_sequence, to_sequence)
            if b.sequence_number > self.through
        ]

    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        if to_sequence is not None and to_sequence <= self.through:
            return []
        return self.inner.symbol_stats(max(from_sequence, self.through + 1), to_sequence)

    def sequence_at(self, when: datetime) -> int:
        return max(self.inner.sequence_at(when), self.through)

    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        return self._all_hot(self.inner.causation_chain(event_id))

    def effects(self, event_id: UUID) -> list[BaseEvent]:
        return self._all_hot(self.inner.effects(event_id))

    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:
        found: dict[str, TypeStats] = {}
        for event in self._all_hot(list(self.inner.read_time_range(since, until))):
            kind, stamp = event.event_type.value, event.timestamp_utc
            known = found.get(kind)
            found[kind] = (
                TypeStats(kind, known.count + 1, min(known.first, stamp), max(known.last, stamp))
                if known
                else TypeStats(kind, 1, stamp, stamp)
            )
        return [found[k] for k in sorted(found)]

    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        best: BaseEvent | None = None
        for event in self.read(event_types=[EventType.STATE_SNAPSHOT]):
            at = int(event.payload["at_sequence"])
            if at <= at_or_below and (best is None or at > int(best.payload["at_sequence"])):
                best = event
        return best

    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        check_range(from_sequence, to_sequence, None)
        if to_sequence is not None and to_sequence <= self.through:
            return iter(())
        return self.inner.iter_records(max(from_sequence, self.through + 1), to_sequence)

    def linked_records(self, sequences: Collection[int]) -> dict[int, LinkedRecord]:
        return self.inner.linked_records([s for s in sequences if s > self.through])
