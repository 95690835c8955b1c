"""The EventStore port. Everything above the store talks to this and nothing else.

Adapters implement a handful of primitives; the rules every adapter must keep (idempotency by
event_id, causation order, the gapless sequence and the hash chain) are planned here, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, NamedTuple, Self
from uuid import UUID

import orjson

from claire.errors import (
    CausationError,
    ConcurrencyError,
    EventConflictError,
    EventValidationError,
    StoreError,
)
from claire.events.codec import (
    GENESIS_HASH,
    canonical_document,
    chain_hash,
    check_event_size,
    decode_rows,
    encode_document,
    same_stored_event,
)
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import decimal_to_str
from claire.store.readahead import ReadAhead
from claire.store.skew import DEFAULT_MAX_FUTURE_SKEW, refuse_future, wall_clock

DEFAULT_BATCH_SIZE = 5000
# How far back (in events) `sequence_at` looks for an event stamped later than one after it:
# producers' clocks disagree a little. Each look reads this many rows (measured: 10,000 cost
# 10-20 ms a lookup on PostgreSQL, 1,000 about a tenth of that).
DISORDER_WINDOW = 1000
# `to_sequence=None` as a bound SQL can compare with.
LAST_SEQUENCE = 2**62


@dataclass(frozen=True, slots=True)
class Head:
    """The last stored event's sequence number and hash (0 and the genesis hash when empty)."""

    sequence_number: int
    hash: str


@dataclass(frozen=True, slots=True)
class TypeStats:
    event_type: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class SymbolStats:
    """A symbol's market data: how many bars, and the first and last of them."""

    symbol: str
    bars: int
    first_sequence: int
    last_sequence: int
    first_time: datetime
    last_time: datetime


class BarRow(NamedTuple):
    """The chart fields of one market_data event, as the stored text (never decoded). A named
    tuple: a day of three symbols is 25,920 of them, built several times faster than frozen
    dataclasses (measured)."""

    sequence_number: int
    timestamp_utc: datetime
    symbol: str
    price: str
    open: str | None
    high: str | None
    low: str | None
    volume: str


@dataclass(frozen=True, slots=True)
class BarBucket:
    """Consecutive bars in one: open of the first, the highest high and lowest low (a bar
    without high/low counts its price), close of the last, summed volume; decimal text."""

    first_sequence: int
    last_sequence: int
    time: datetime  # of the first bar
    open: str
    high: str
    low: str
    close: str
    volume: str
    bars: int

    @classmethod
    def of(cls, rows: Sequence[BarRow]) -> BarBucket:
        first, last = rows[0], rows[-1]
        return cls._cut(
            first.sequence_number,
            last.sequence_number,
            first.timestamp_utc,
            first.open or first.price,
            highs=[r.high or r.price for r in rows],
            lows=[r.low or r.price for r in rows],
            close=last.price,
            volumes=[r.volume for r in rows],
        )

    @classmethod
    def of_payloads(
        cls, first: int, last: int, time: datetime, payloads: Sequence[dict[str, Any]]
    ) -> BarBucket:
        """The bucket of consecutive market_data payloads (first..last their sequences): for
        adapters that read payloads whole rather than build a BarRow per bar."""
        highs, lows, volumes = [], [], []
        for p in payloads:
            price = p["price"]
            highs.append(p.get("high") or price)
            lows.append(p.get("low") or price)
            volumes.append(p["volume"])
        head = payloads[0]
        opening = head.get("open") or head["price"]
        close = payloads[-1]["price"]
        return cls._cut(
            first, last, time, opening, highs=highs, lows=lows, close=close, volumes=volumes
        )

    @classmethod
    def _cut(
        cls,
        first: int,
        last: int,
        time: datetime,
        open_: str,
        *,
        highs: list[str],
        lows: list[str],
        close: str,
        volumes: list[str],
    ) -> BarBucket:
        if len(volumes) == 1:  # one bar: its own texts, nothing to compare
            return cls(first, last, time, open_, highs[0], lows[0], close, volumes[0], 1)
        # Compare as Decimals, keep the winning bar's own text (its scale, as stored).
        high = max(highs, key=Decimal)
        low = min(lows, key=Decimal)
        volume = decimal_to_str(sum(map(Decimal, volumes), Decimal(0)))
        return cls(first, last, time, open_, high, low, close, volume, len(volumes))


class ChartEvent(NamedTuple):
    """An event a price chart marks, with the price of its cause when it is a risk decision
    (the signal's price; for a stop-loss or take-profit exit, the market data's)."""

    event: BaseEvent
    cause_price: str | None


# What `EventStore.chart_events` reads: a symbol's decisions and fills, and every alert.
CHART_TYPES = (EventType.RISK_DECISION, EventType.ORDER_RESULT)


def ntile(count: int, buckets: int) -> list[tuple[int, int]]:
    """(start, stop) of `buckets` consecutive slices of `count` items, as SQL's ntile cuts
    them: the first count % buckets slices hold one item more; no empty slice."""
    if buckets < 1:
        raise StoreError(f"the number of buckets must be 1 or more, got {buckets}")
    size, extra = divmod(count, buckets)
    slices, start = [], 0
    for index in range(min(buckets, count)):
        stop = start + size + (1 if index < extra else 0)
        slices.append((start, stop))
        start = stop
    return slices


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """A stored row as `verify` needs it: the hashed bytes and the columns beside them."""

    sequence_number: int
    event_id: str
    prev_hash: str
    hash: str
    canonical: bytes
    columns: dict[str, Any]

    def columns_canonical(self) -> bytes:
        """The canonical bytes the row's individual columns describe."""
        return orjson.dumps(self.columns, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """A stored row and what the row after it committed to: enough to vouch for the row alone
    (see `claire.audit.vouch`)."""

    record: ChainRecord
    next_prev_hash: str | None  # prev_hash of the row at sequence + 1; None when there is none
    is_last: bool  # no stored row comes after it (only a checkpoint can vouch for the head)


@dataclass(frozen=True, slots=True)
class RawPage:
    """Consecutive stored rows exactly as hashed: what sealing copies into the archive."""

    sequence: list[int]
    canonical: list[bytes]
    prev_hash: list[str]
    hash: list[str]


@dataclass(frozen=True, slots=True)
class Row:
    """One event ready to insert, in every form the adapters store."""

    sequence_number: int
    event: BaseEvent
    document: dict[str, Any]  # the canonical document: ids and time already as text
    canonical: bytes
    prev_hash: str
    hash: str

    @property
    def metadata_json(self) -> bytes:
        return orjson.dumps(self.document["metadata"])

    @property
    def payload_json(self) -> bytes:
        return orjson.dumps(self.document["payload"])

    @property
    def timestamp_text(self) -> str:
        return str(self.document["timestamp_utc"])


@dataclass(slots=True)
class Batch:
    """Events to append, encoded once, with duplicates inside the batch folded together."""

    events: list[BaseEvent]
    documents: list[dict[str, Any]]
    canonical: list[bytes]

    @classmethod
    def of(cls, events: BaseEvent | Iterable[BaseEvent]) -> Batch:
        items = [events] if isinstance(events, BaseEvent) else list(events)
        for index, item in enumerate(items):
            if not isinstance(item, BaseEvent):
                raise TypeError(f"events[{index}]: expected a BaseEvent, got {type(item).__name__}")
        documents = [canonical_document(e) for e in items]
        return cls(items, documents, [_encoded(i, d) for i, d in enumerate(documents)])

    def slice(self, start: int, stop: int) -> Batch:
        return Batch(
            self.events[start:stop], self.documents[start:stop], self.canonical[start:stop]
        )

    @property
    def ids(self) -> list[UUID]:
        return [e.event_id for e in self.events]

    def external_causes(self) -> set[UUID]:
        """Causation ids that no event of this batch provides."""
        own = set(self.ids)
        return {e.causation_id for e in self.events if e.causation_id and e.causation_id not in own}


def _encoded(index: int, document: dict[str, Any]) -> bytes:
    """Canonical bytes of one event of a batch, refused when they cannot be stored."""
    try:
        data = encode_document(document)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in a typed field
        raise EventValidationError([(f"events[{index}]", f"cannot be encoded: {exc}")]) from None
    check_event_size(data, f"events[{index}]")
    return data


@dataclass(slots=True)
class AppendPlan:
    rows: list[Row]
    sequence_numbers: list[int]


def plan_append(
    batch: Batch,
    head: Head,
    existing: dict[UUID, tuple[int, bytes]],
    missing_causes: set[UUID],
) -> AppendPlan:
    """Assign sequence numbers and hashes, or refuse the batch, naming the event and reason.

    `existing` maps already-stored ids to (sequence, canonical bytes); `missing_causes` are
    causation ids the store does not hold. Called with the append lock held.
    """
    seen: dict[UUID, tuple[int, bytes]] = dict(existing)
    rows: list[Row] = []
    result: list[int] = []
    sequence, prev = head.sequence_number, head.hash
    for index, (event, document, data) in enumerate(
        zip(batch.events, batch.documents, batch.canonical, strict=True)
    ):
        known = seen.get(event.event_id)
        if known is not None:
            if not same_stored_event(known[1], data):
                raise EventConflictError(
                    f"events[{index}] event_id {event.event_id}: already stored with different "
                    "content (events are immutable; use a new event_id)"
                )
            result.append(known[0])
            continue
        cause = event.causation_id
        if cause is not None and cause not in seen:
            where = "a later event of this batch" if cause in batch.ids else "no stored event"
            if cause in missing_causes or cause in batch.ids:
                raise CausationError(
                    f"events[{index}] causation_id {cause}: names {where} "
                    "(a cause must be stored before, or earlier in the same batch)"
                )
        sequence += 1
        if event.event_type is EventType.STATE_SNAPSHOT:
            _check_snapshot_position(index, event, sequence)
        digest = chain_hash(prev, data)
        rows.append(Row(sequence, event, document, data, prev, digest))
        seen[event.event_id] = (sequence, data)
        result.append(sequence)
        prev = digest
    return AppendPlan(rows, result)


def _check_snapshot_position(index: int, event: BaseEvent, sequence: int) -> None:
    """A snapshot describes the log up to an event before it, never itself or the future."""
    at = event.payload.get("at_sequence")
    if not isinstance(at, int) or at >= sequence:
        raise EventValidationError(
            [
                (
                    f"events[{index}].payload.at_sequence",
                    f"{at} is not before the snapshot's own position (sequence {sequence}): a "
                    "snapshot describes the state after an event stored before it",
                )
            ]
        )


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a conditional append expects of the log (see `EventStore.append`), checked by the
    adapter in the append's own transaction, under the lock that serialises appends.

    `archived` counts the correlation's events at sequences up to `boundary` that the hot store
    no longer holds (the archive-aware store fills both in). Adapters count the correlation's
    events above `boundary`; an adapter that prunes checks in the transaction that its
    `pruned_through()` is still `boundary` (else ArchiveBoundaryError: counted again).
    """

    sequence: int | None = None
    version: int | None = None
    correlation_id: UUID | None = None
    archived: int = 0
    boundary: int = 0

    @classmethod
    def of(
        cls, batch: Batch, expected_sequence: int | None, expected_version: int | None
    ) -> Expectation:
        """The expectation of a batch, or ValueError naming the argument and the reason."""
        for name, value in (
            ("expected_sequence", expected_sequence),
            ("expected_version", expected_version),
        ):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ValueError(f"{name} must be an integer of 0 or more, got {value!r}")
        correlation = None
        if expected_version is not None:
            ids = list(dict.fromkeys(e.correlation_id for e in batch.events))
            if len(ids) != 1:
                named = ", ".join(map(str, ids[:3])) + (", ..." if len(ids) > 3 else "")
                raise ValueError(
                    f"expected_version: the batch holds events of {len(ids)} correlation ids "
                    f"({named}); a version counts the events of one "
                    "correlation id, so append one correlation's events at a time (or use "
                    "expected_sequence, which guards the whole log)"
                )
            correlation = ids[0]
        return cls(expected_sequence, expected_version, correlation)

    def refusal(self, head: int, count: Callable[[UUID, int], int]) -> ConcurrencyError | None:
        """The error when the log is not as expected (None when it is). `head` is the head's
        sequence; `count(correlation_id, boundary)` the correlation's events above boundary,
        asked only when a version is expected."""
        if self.sequence is not None and head != self.sequence:
            return ConcurrencyError("sequence", self.sequence, head)
        if self.version is not None and self.correlation_id is not None:
            actual = self.archived + count(self.correlation_id, self.boundary)
            if actual != self.version:
                return ConcurrencyError("version", self.version, actual, self.correlation_id)
        return None


def repeat_or_refuse(
    refused: ConcurrencyError, batch: Batch, stored: dict[UUID, tuple[int, bytes]]
) -> list[int]:
    """A refused conditional append is still answered when it stores nothing: every event of
    the batch is already stored with the same bytes (a retry of an append that succeeded, e.g.
    after a lost connection), so it returns their sequence numbers like any repeat. Otherwise
    the refusal is raised. `stored` maps the batch's stored ids to (sequence, canonical)."""
    numbers = []
    for event, data in zip(batch.events, batch.canonical, strict=True):
        known = stored.get(event.event_id)
        if known is None or not same_stored_event(known[1], data):
            raise refused
        numbers.append(known[0])
    return numbers


class EventStore(ABC):
    """The port. Adapters: memory, sqlite, postgres (see `open_store`)."""

    url: str

    # --- writing -----------------------------------------------------------------------------
    # Producers' timestamps more than this ahead of the receiving clock are refused (see
    # claire.store.skew; `open_store` sets it from CLAIRE_MAX_FUTURE_SKEW; None: no limit).
    max_future_skew: timedelta | None = DEFAULT_MAX_FUTURE_SKEW
    receiving_clock: Callable[[], datetime] = staticmethod(wall_clock)

    def append(
        self,
        events: BaseEvent | Iterable[BaseEvent],
        *,
        expected_sequence: int | None = None,
        expected_version: int | None = None,
    ) -> list[int]:
        """Store a batch atomically; return each event's sequence number (existing ones too).

        Conditional append (optimistic concurrency): with `expected_sequence=N` the batch is
        stored only if the head of the log is still sequence N (0: the log is empty); with
        `expected_version=V` only if exactly V events are stored under the batch's correlation
        id (every event of the batch must share it, else ValueError). Both may be given. The
        check runs in the append's transaction, under the lock that serialises appends, so of
        two writers expecting the same head exactly one succeeds; the other gets
        ConcurrencyError naming the expected and actual numbers, and nothing of its batch is
        stored. A batch that is entirely stored already (same ids, same bytes: a retry of an
        append that succeeded) returns its sequence numbers whatever the expectation, since it
        stores nothing. An empty batch stores nothing and checks nothing.
        Without expected_* nothing more is read than for any append.
        """
        batch = Batch.of(events)
        if not batch.events:
            return []
        expect = None
        if expected_sequence is not None or expected_version is not None:
            expect = Expectation.of(batch, expected_sequence, expected_version)
        if self.max_future_skew is not None:
            refuse_future(batch.events, self.receiving_clock(), self.max_future_skew)
        return self._append(batch, expect)

    @abstractmethod
    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        """Store the batch; with `expect`, only if the log is as expected (see `append`)."""

    # --- reading -----------------------------------------------------------------------------
    @abstractmethod
    def get(self, event_id: UUID) -> BaseEvent | None: ...

    @abstractmethod
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
        """Events in sequence order, streamed in batches; both bounds inclusive."""

    @abstractmethod
    def read_time_range(
        self, start: datetime | None, end: datetime | None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[BaseEvent]:
        """Events with start <= timestamp_utc < end, in sequence order."""

    def read_correlation(self, correlation_id: UUID) -> list[BaseEvent]:
        return list(self.read(correlation_id=correlation_id))

    @abstractmethod
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
        """Events of one symbol (see `event_symbol`) and/or of some types in from..to (both
        inclusive), oldest first or newest first, at most `limit` of them."""

    @abstractmethod
    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        """The market_data events of a symbol (None: every symbol) in from..to, in order."""

    def bar_buckets(
        self,
        symbol: str,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        *,
        buckets: int,
    ) -> list[BarBucket]:
        """A symbol's bars in from..to in at most `buckets` buckets of consecutive bars (cut
        as `ntile` cuts). Adapters may compute them in the database."""
        rows = self.bars(symbol, from_sequence, to_sequence)
        return [BarBucket.of(rows[a:b]) for a, b in ntile(len(rows), buckets)]

    def chart_events(
        self, symbol: str, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[ChartEvent]:
        """The risk decisions and order results of `symbol` in from..to and every alert there
        (whatever it names), in sequence order; each risk decision with its cause's price.
        Adapters answer in one query; this default composes the other reads."""
        found = self.find_events(
            symbol=symbol,
            event_types=CHART_TYPES,
            from_sequence=from_sequence,
            to_sequence=to_sequence,
        )
        found += self.find_events(
            event_types=[EventType.ALERT], from_sequence=from_sequence, to_sequence=to_sequence
        )
        found.sort(key=lambda e: e.sequence_number or 0)
        prices: dict[UUID, str | None] = {}
        for event in found:
            cause = event.causation_id
            if event.event_type is EventType.RISK_DECISION and cause and cause not in prices:
                stored = self.get(cause)
                prices[cause] = stored.payload.get("price") if stored is not None else None
        return [
            ChartEvent(
                e,
                prices.get(e.causation_id)
                if e.event_type is EventType.RISK_DECISION and e.causation_id
                else None,
            )
            for e in found
        ]

    @abstractmethod
    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        """Market data per symbol in from..to (both inclusive), ordered by symbol."""

    @abstractmethod
    def sequence_at(self, when: datetime) -> int:
        """The last sequence number as of `when`: the event just before the first event, in
        sequence order, stamped after `when` (the head when none is; 0 when the first is).

        Sequence order is the truth and timestamps are for people, so this is a prefix of the
        log. The SQL adapters find the first event after `when` in time order (an index) and
        then look DISORDER_WINDOW events further back for one stamped later; exact unless a
        producer stamped an event more than that many positions ahead of its place.
        """

    @abstractmethod
    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        """The event and its ancestors, root first, the event itself last."""

    @abstractmethod
    def effects(self, event_id: UUID) -> list[BaseEvent]:
        """Every descendant of the event (what it caused), in sequence order."""

    @abstractmethod
    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:
        """Count, first and last timestamp per event type, for since <= t < until."""

    @abstractmethod
    def head(self) -> Head: ...

    @abstractmethod
    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        """The state_snapshot with the highest `at_sequence` <= the given sequence.

        Of several snapshots for the same `at_sequence` the first written wins, never a later
        one (a later row cannot replace what the pipeline recorded for that point); a snapshot
        whose `at_sequence` is not before its own sequence number is never returned."""

    @abstractmethod
    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        """Raw rows in sequence order, for verification."""

    @abstractmethod
    def linked_records(self, sequences: Collection[int]) -> dict[int, LinkedRecord]:
        """The rows at these sequence numbers, each with its successor's prev_hash, in one
        query (views verify every event they show with it). Absent sequences are left out."""

    def raw_pages(
        self, from_sequence: int, to_sequence: int, page_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[RawPage]:
        """Stored rows from..to in pages of at most `page_size`, undecoded (adapters fetch
        just these four columns; this default goes through `iter_records`)."""
        page = RawPage([], [], [], [])
        for record in self.iter_records(from_sequence, to_sequence):
            page.sequence.append(record.sequence_number)
            page.canonical.append(record.canonical)
            page.prev_hash.append(record.prev_hash)
            page.hash.append(record.hash)
            if len(page.sequence) == page_size:
                yield page
                page = RawPage([], [], [], [])
        if page.sequence:
            yield page

    def pruned_through(self) -> int:
        """The last sequence moved out of this store into the archive (0: none). Reads of
        sequences up to it go to the archive (see claire.archive.store)."""
        return 0

    # Whether `prune` is implemented (claire archive prune asks before verifying anything).
    can_prune = False

    def prune(self, through: int, hash_at: str, archive_url: str | None) -> None:
        """Remove sequences up to `through` (whose hash is `hash_at`), already archived and
        verified (`claire archive prune` checks that first). Adapters that can prune do so."""
        raise StoreError(
            f"{type(self).__name__} cannot prune (SQLite and PostgreSQL stores can; "
            "see docs/archive.md)"
        )

    # --- lifecycle ---------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply schema migrations (idempotent); return the migration files known."""
        return []

    def close(self) -> None:  # noqa: B027 - adapters without resources need nothing here
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


CanonicalRows = list[tuple[int, bytes]]
"""Stored rows as a read fetches them: (sequence number, canonical bytes), in sequence order."""


def page_query(mark: str, filters: Sequence[str] = (), *, bounded: bool = False) -> str:
    """One page of a read; `mark` is the adapter's placeholder (%s or ?).

    Parameters: the cursor, the last sequence if `bounded`, the filters' own, the page size.
    """
    where = [f"sequence_number >= {mark}"]
    if bounded:
        where.append(f"sequence_number <= {mark}")
    return (
        f"SELECT sequence_number, canonical FROM events WHERE {' AND '.join([*where, *filters])}"
        f" ORDER BY sequence_number LIMIT {mark}"
    )


def read_pages(
    query: Callable[[str, Sequence[Any]], CanonicalRows],
    mark: str,
    first: int,
    last: int | None,
    *,
    limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    filters: Sequence[str] = (),
    params: Sequence[Any] = (),
) -> Iterator[CanonicalRows]:
    """The pages of a read, each one `query(sql, parameters)` of the adapter.

    A dense read (every event of first..last) stops at `last` by its page size alone, since the
    sequence is gapless, so its query has no upper bound: `sequence_number >= cursor ORDER BY
    sequence_number LIMIT n` is planned as a walk along the unique index whatever the table's
    statistics say. With an upper bound too, a table whose statistics are stale (freshly
    written, bulk loaded, restored) is planned as a scan of the whole remaining range plus a
    sort, for every page. A filtered read bounds its query and counts only matching rows.
    """
    if batch_size < 1:
        raise StoreError(f"batch_size must be 1 or more, got {batch_size}")
    dense = not filters
    sql = page_query(mark, filters, bounded=not dense and last is not None)
    bound = [last] if not dense and last is not None else []
    cursor, remaining = first, limit
    while True:
        size = batch_size if remaining is None else min(batch_size, remaining)
        if dense and last is not None:
            size = min(size, last - cursor + 1)
        if size <= 0:
            return
        rows = query(sql, [cursor, *bound, *params, size])
        if dense and last is not None and rows and rows[-1][0] > last:
            # Only where the sequence has a hole (never in a store we wrote): keep the range.
            yield [row for row in rows if row[0] <= last]
            return
        if rows:
            yield rows
        if len(rows) < size:
            return
        cursor = rows[-1][0] + 1
        if remaining is not None:
            remaining -= len(rows)


def decode_page(rows: Iterable[tuple[int, bytes]]) -> list[BaseEvent]:
    """Stored (sequence, canonical bytes) rows decoded into a list (answers of a few events;
    long reads decode as they are consumed, see `stream_pages`)."""
    return list(decode_rows(rows))


def stream_pages(pages: Iterator[CanonicalRows], batch_size: int) -> Iterator[BaseEvent]:
    """The events of `pages`, decoded one by one as the caller consumes them.

    A read whose first page is full has more to come: the following pages are then fetched
    ahead on a thread of the read's own while the caller works on the current one.
    """
    first = next(pages, None)
    if first is None:
        return
    if len(first) < batch_size:
        yield from decode_rows(first)
        return
    ahead = ReadAhead(pages)
    try:
        yield from decode_rows(first)
        for rows in ahead:
            yield from decode_rows(rows)
    finally:
        ahead.close()


def event_symbol(payload: dict[str, Any]) -> str | None:
    """The symbol an event is about: `payload.symbol`, else an alert's `context.symbol`.

    The SQL adapters index exactly this expression (COALESCE of the two JSON fields).
    """
    symbol = payload.get("symbol")
    if symbol is None:
        context = payload.get("context")
        symbol = context.get("symbol") if isinstance(context, dict) else None
    return symbol if isinstance(symbol, str) else None


def raw_pages_by(
    fetch: Callable[[int, int, int], list[Any]], first: int, last: int, page_size: int
) -> Iterator[RawPage]:
    """Keyset pages of (sequence, canonical, prev_hash, hash) rows: `fetch(cursor, last, size)`
    returns the next rows from `cursor` (the SQL adapters' `raw_pages`)."""
    check_range(first, last, None)
    cursor = first
    while cursor <= last:
        rows = fetch(cursor, last, page_size)
        if not rows:
            return
        sequence, canonical, prev_hash, hashes = (list(c) for c in zip(*rows, strict=True))
        yield RawPage(sequence, canonical, prev_hash, hashes)
        cursor = sequence[-1] + 1


def check_range(from_sequence: int, to_sequence: int | None, limit: int | None) -> None:
    if from_sequence < 1:
        raise StoreError(f"from_sequence must be 1 or more, got {from_sequence}")
    if to_sequence is not None and to_sequence < from_sequence:
        raise StoreError(f"empty range: to_sequence {to_sequence} < from_sequence {from_sequence}")
    if limit is not None and limit < 0:
        raise StoreError(f"limit must not be negative, got {limit}")


def chain_record(r: Sequence[Any], timestamp_utc: str) -> ChainRecord:
    """A ChainRecord from a row whose first twelve columns are sequence_number, event_id,
    event_type, timestamp_utc (given as canonical text), timestamp_logical, causation_id,
    correlation_id, metadata and payload (JSON text), prev_hash, hash, canonical."""
    return ChainRecord(
        sequence_number=r[0],
        event_id=r[1],
        prev_hash=r[9],
        hash=r[10],
        canonical=bytes(r[11]),
        columns=columns_document(
            event_id=r[1],
            event_type=r[2],
            timestamp_utc=timestamp_utc,
            timestamp_logical=r[4],
            causation_id=r[5],
            correlation_id=r[6],
            metadata=orjson.loads(r[7]),
            payload=orjson.loads(r[8]),
        ),
    )


def columns_document(
    *,
    event_id: str,
    event_type: str,
    timestamp_utc: str,
    timestamp_logical: int,
    causation_id: str | None,
    correlation_id: str,
    metadata: Any,
    payload: Any,
) -> dict[str, Any]:
    """The canonical document rebuilt from a row's columns (see events.codec)."""
    return {
        "causation_id": causation_id,
        "correlation_id": correlation_id,
        "event_id": event_id,
        "event_type": event_type,
        "metadata": metadata,
        "payload": payload,
        "timestamp_logical": timestamp_logical,
        "timestamp_utc": timestamp_utc,
    }


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DISORDER_WINDOW",
    "GENESIS_HASH",
    "LAST_SEQUENCE",
    "AppendPlan",
    "BarBucket",
    "BarRow",
    "Batch",
    "CanonicalRows",
    "ChainRecord",
    "ChartEvent",
    "EventStore",
    "Expectation",
    "Head",
    "LinkedRecord",
    "RawPage",
    "Row",
    "SymbolStats",
    "TypeStats",
    "chain_record",
    "check_range",
    "columns_document",
    "decode_page",
    "event_symbol",
    "ntile",
    "page_query",
    "plan_append",
    "raw_pages_by",
    "read_pages",
    "repeat_or_refuse",
    "stream_pages",
]
