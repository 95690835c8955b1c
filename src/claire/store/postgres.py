"""PostgreSQL adapter: psycopg 3 with a connection pool, appends serialised by an advisory lock.

Writing: one transaction per batch takes `pg_advisory_xact_lock`, reads the head, numbers and
hashes the batch (`plan_append`) and COPYs it in binary. The fast path assumes the batch is new
and its causes are stored; if the database says otherwise (unique or foreign-key violation) the
batch is redone with the full checks, so the error names the event and the reason and a repeated
event returns its stored sequence number. Reading: keyset pages of (sequence_number, canonical)
in the binary protocol (see `keyset_pages`), decoded with the one codec as the caller consumes
them, the next page fetched ahead on a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg import postgres
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg_pool import ConnectionPool, PoolTimeout

from claire.errors import (
    ArchiveBoundaryError,
    ArchivedEventError,
    CausationError,
    ConcurrencyError,
    StoreError,
    StoreUnavailableError,
)
from claire.events.codec import GENESIS_HASH, decode_event
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.store import postgres_schema
from claire.store.port import (
    DEFAULT_BATCH_SIZE,
    DISORDER_WINDOW,
    LAST_SEQUENCE,
    BarBucket,
    BarRow,
    Batch,
    CanonicalRows,
    ChainRecord,
    ChartEvent,
    EventStore,
    Expectation,
    Head,
    LinkedRecord,
    RawPage,
    Row,
    SymbolStats,
    TypeStats,
    chain_record,
    check_range,
    decode_page,
    plan_append,
    raw_pages_by,
    read_pages,
    repeat_or_refuse,
    stream_pages,
)
from claire.store.postgres_schema import first_line

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]
Params = Sequence[Any] | Mapping[str, Any]

# Advisory lock key (an arbitrary constant, fixed forever) serialising appends; migrations use
# the next one (postgres_schema.MIGRATE_LOCK_KEY).
APPEND_LOCK_KEY = 0x436C_6169_7265_01  # "Claire" + 1
# A lost connection is retried this many times, waiting 50 ms, 100 ms, 200 ms, ...
RETRIES = 5
FIRST_BACKOFF_SECONDS = 0.05
# Below this many rows a pipelined INSERT beats COPY's extra round trip.
COPY_THRESHOLD = 16
# Rows planned and sent to COPY at a time (about 100 kB): small enough to overlap our hashing
# with the server's ingest, large enough to keep the per-slice overhead negligible.
STREAM_SLICE = 100

COLUMNS = (
    "event_id, event_type, sequence_number, timestamp_utc, timestamp_logical, causation_id,"
    " correlation_id, metadata, payload, prev_hash, hash, canonical"
)
COPY_EVENTS = f"COPY events ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = [
    "uuid",
    "text",
    "int8",
    "timestamptz",
    "int8",
    "uuid",
    "uuid",
    "jsonb",
    "jsonb",
    "text",
    "text",
    "bytea",
]
INSERT_EVENT = (
    f"INSERT INTO events ({COLUMNS})"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)"
)
HEAD = "SELECT sequence_number, hash FROM events ORDER BY sequence_number DESC LIMIT 1"
EXISTING = "SELECT event_id, sequence_number, canonical FROM events WHERE event_id = ANY(%s)"
# Ids and causes are looked up in event_ids (migration 010): every id ever stored, pruned or not.
KNOWN = "SELECT event_id, sequence_number FROM event_ids WHERE event_id = ANY(%s)"
PRESENT = "SELECT event_id FROM event_ids WHERE event_id = ANY(%s)"
PRUNED_THROUGH = "SELECT through FROM claire_pruned WHERE id = 1"
PRUNED_AT = "SELECT through, hash FROM claire_pruned WHERE id = 1"
PRUNE = "SELECT claire_prune(%s, %s, %s)"
# expected_version: the correlation's events still here (idx_events_correlation_id, migration
# 001), and the prune boundary they lie above, in one statement: one snapshot, so a prune that
# commits meanwhile (boundary and deletion are one transaction) is seen whole or not at all.
CORRELATION_COUNT = """
SELECT (SELECT through FROM claire_pruned WHERE id = 1),
       (SELECT count(*) FROM events WHERE correlation_id = %s)
"""
# The walk of get_causation_chain() without its per-row verdict (migration 006): the views
# check the events they show themselves (claire.audit.vouch), in one query for all of them.
ANCESTORS = """
WITH RECURSIVE chain(event_id, causation_id, up) AS (
    SELECT event_id, causation_id, 0 FROM events WHERE event_id = %s
    UNION ALL
    SELECT e.event_id, e.causation_id, c.up + 1
    FROM events e JOIN chain c ON e.event_id = c.causation_id
)
SELECT e.sequence_number, e.canonical FROM chain c JOIN events e USING (event_id)
ORDER BY c.up DESC
"""
# One level of descendants at a time: a recursive CTE over `events` is planned as a hash join
# that scans the whole table per level (seconds at a million events); `= ANY` uses the index.
CHILDREN = "SELECT event_id, sequence_number, canonical FROM events WHERE causation_id = ANY(%s)"
# Of several snapshots for one point the first written wins (see EventStore.latest_snapshot).
LATEST_SNAPSHOT = """
SELECT sequence_number, canonical FROM events
WHERE event_type = 'state_snapshot' AND (payload->>'at_sequence')::bigint <= %s
  AND (payload->>'at_sequence')::bigint < sequence_number
ORDER BY (payload->>'at_sequence')::bigint DESC, sequence_number LIMIT 1
"""
STATS = "SELECT * FROM get_event_stats(%s::timestamptz, %s::timestamptz)"
RECORDS = """
SELECT sequence_number, event_id::text, event_type, timestamp_utc, timestamp_logical,
       causation_id::text, correlation_id::text, metadata::text, payload::text,
       prev_hash, hash, canonical
FROM events WHERE sequence_number >= %s AND sequence_number <= %s
ORDER BY sequence_number LIMIT %s
"""
RAW_PAGE = """
SELECT sequence_number, canonical, prev_hash, hash FROM events
WHERE sequence_number >= %s AND sequence_number <= %s ORDER BY sequence_number LIMIT %s
"""
# The symbol an event is about, exactly as migration 008 indexes it (see port.event_symbol).
SYMBOL = "COALESCE(payload->>'symbol', payload->'context'->>'symbol')"
BARS = f"""
SELECT sequence_number, timestamp_utc, {SYMBOL}, payload->>'price', payload->>'open',
       payload->>'high', payload->>'low', payload->>'volume'
FROM events WHERE event_type = 'market_data' AND sequence_number BETWEEN %s AND %s
"""
# The buckets computed where the rows are: only the buckets cross the wire.
BAR_BUCKETS = f"""
SELECT min(sequence_number), max(sequence_number),
       (array_agg(timestamp_utc ORDER BY sequence_number))[1],
       (array_agg(COALESCE(payload->>'open', payload->>'price') ORDER BY sequence_number))[1],
       max(COALESCE(payload->>'high', payload->>'price')::numeric)::text,
       min(COALESCE(payload->>'low', payload->>'price')::numeric)::text,
       (array_agg(payload->>'price' ORDER BY sequence_number DESC))[1],
       sum((payload->>'volume')::numeric)::text,
       count(*)
FROM (
    SELECT sequence_number, timestamp_utc, payload,
           ntile(%s) OVER (ORDER BY sequence_number) AS bucket
    FROM events
    WHERE event_type = 'market_data' AND {SYMBOL} = %s AND sequence_number BETWEEN %s AND %s
) bars
GROUP BY bucket ORDER BY bucket
"""
# A symbol's decisions and fills and every alert, each decision with its cause's price.
CHART_EVENTS = f"""
WITH chosen AS (
    SELECT sequence_number, canonical, causation_id, event_type FROM events
    WHERE sequence_number BETWEEN %(first)s AND %(last)s AND {SYMBOL} = %(symbol)s
      AND event_type = ANY('{{risk_decision,order_result}}')
    UNION ALL
    SELECT sequence_number, canonical, causation_id, event_type FROM events
    WHERE sequence_number BETWEEN %(first)s AND %(last)s AND event_type = 'alert'
)
SELECT c.sequence_number, c.canonical, cause.payload->>'price'
FROM chosen c LEFT JOIN events cause
  ON c.event_type = 'risk_decision' AND cause.event_id = c.causation_id
ORDER BY c.sequence_number
"""
SYMBOL_STATS = f"""
SELECT {SYMBOL}, count(*), min(sequence_number), max(sequence_number), min(timestamp_utc),
       max(timestamp_utc)
FROM events WHERE event_type = 'market_data' AND sequence_number BETWEEN %s AND %s
GROUP BY 1 ORDER BY 1
"""
# One round trip: the first event stamped after the time (in time order), the earliest event
# stamped after it among the DISORDER_WINDOW before that one, and the head (when none is after).
SEQUENCE_AT = """
WITH first AS (
    SELECT sequence_number AS s FROM events WHERE timestamp_utc > %(when)s
    ORDER BY timestamp_utc, sequence_number LIMIT 1
)
SELECT first.s,
       (SELECT min(e.sequence_number) FROM events e
        WHERE e.sequence_number >= first.s - %(window)s AND e.sequence_number < first.s
          AND e.timestamp_utc > %(when)s),
       (SELECT max(sequence_number) FROM events)
FROM (SELECT 1) AS one LEFT JOIN first ON true
"""
EARLIER_AFTER = """
SELECT min(sequence_number) FROM events
WHERE sequence_number >= %s AND sequence_number < %s AND timestamp_utc > %s
"""
# A row with its successor's prev_hash and whether it is the head, for any set of sequences.
LINKED = """
SELECT e.sequence_number, e.event_id::text, e.event_type, e.timestamp_utc, e.timestamp_logical,
       e.causation_id::text, e.correlation_id::text, e.metadata::text, e.payload::text,
       e.prev_hash, e.hash, e.canonical, n.prev_hash,
       e.sequence_number = (SELECT max(sequence_number) FROM events)
FROM events e LEFT JOIN events n ON n.sequence_number = e.sequence_number + 1
WHERE e.sequence_number = ANY(%s)
"""


class RawJsonbDumper(Dumper):
    """JSONB in binary COPY from bytes that are already JSON (version byte 1, then the text)."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> Buffer:
        return b"\x01" + obj


def _configure(conn: Connection) -> None:
    """Every pooled connection: UTC session time zone, raw JSONB for binary COPY."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.adapters.register_dumper(None, RawJsonbDumper)


class PostgresEventStore(EventStore):
    """`PostgresEventStore("postgresql://user@host:5432/dbname")` opens an existing store and
    only checks its schema; `create=True` (`claire db migrate`, `demo`, `record`) creates or
    upgrades it, in an empty database or a Claire store only (claire.store.postgres_schema).
    """

    # Insert first and look up stored ids and causes only when the database objects. False
    # always looks them up first (same results; the benchmark measures the difference).
    optimistic: bool = True

    def __init__(
        self, url: str, *, create: bool = False, min_size: int = 1, max_size: int = 4
    ) -> None:
        self.url = url
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=10.0,
            configure=_configure,
            kwargs={"autocommit": True, "connect_timeout": 5},
            name="claire-events",
        )
        if create:
            self.migrate()
        else:
            postgres_schema.check(url)
        self._pool.open()

    # --- schema ------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the numbered migrations not yet applied (see claire.store.postgres_schema)."""
        return postgres_schema.migrate(self.url)

    def close(self) -> None:
        self._pool.close()

    # --- connections, retries and error translation ------------------------------------------
    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        """Run `work` on a pooled connection; retry when the connection is lost.

        Retrying an append is safe: appends are idempotent by event_id, so a batch whose commit
        reached the server before the connection died is found and not stored twice.
        """
        delay = FIRST_BACKOFF_SECONDS
        for attempt in range(1, RETRIES + 2):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except PoolTimeout as exc:
                raise StoreUnavailableError(
                    f"{what}: no PostgreSQL connection available ({first_line(exc)})"
                ) from exc
            except psycopg.OperationalError as exc:
                if attempt > RETRIES:
                    raise StoreUnavailableError(
                        f"{what}: PostgreSQL unavailable after {attempt} attempts: "
                        f"{first_line(exc)}"
                    ) from exc
                self._pool.check()  # drop the other idle connections the outage killed
                time.sleep(delay)
                delay *= 2
            except psycopg.Error as exc:
                raise StoreError(f"{what} failed: {first_line(exc)}") from exc
        raise AssertionError("unreachable")

    def _query(self, sql: str, params: Params = (), *, prepare: bool | None = None) -> list[Any]:
        def fetch(conn: Connection) -> list[Any]:
            return conn.execute(sql, params, binary=True, prepare=prepare).fetchall()

        return self._run("query", fetch)

    def _planned(self, sql: str, params: Params = ()) -> list[Any]:
        """A query planned for its values every time, never prepared. The timeline's queries
        can use several indexes; the value decides which one is right, and PostgreSQL's
        generic plan of a prepared statement picks one blind (measured: 65 ms instead of
        0.4 ms for a symbol's decisions of a day)."""
        return self._query(sql, params, prepare=False)

    # --- writing -----------------------------------------------------------------------------
    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        return self._run("append", lambda conn: self._append_on(conn, batch, expect))

    def _append_on(self, conn: Connection, batch: Batch, expect: Expectation | None) -> list[int]:
        if not self.optimistic:
            return self._append_transaction(conn, batch, expect, checked=True)
        try:
            return self._append_transaction(conn, batch, expect, checked=False)
        except (pg_errors.UniqueViolation, pg_errors.ForeignKeyViolation, CausationError):
            # Something in the batch is stored already, or a cause is not: redo it with the
            # checks, which return stored sequence numbers or name the offending event.
            return self._append_transaction(conn, batch, expect, checked=True)

    def _append_transaction(
        self, conn: Connection, batch: Batch, expect: Expectation | None, *, checked: bool
    ) -> list[int]:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
            # Read after taking the lock: no other append can commit in between.
            row = conn.execute(HEAD).fetchone()
            head = Head(row[0], row[1]) if row else Head(0, GENESIS_HASH)
            # A conditional append is checked here, under the same lock and against the same
            # head: nothing more is read unless a version is expected or the check fails.
            if expect is not None and (refused := _refusal(conn, head, expect)) is not None:
                return repeat_or_refuse(refused, batch, self._stored(conn, batch))
            if not checked and len(batch.events) >= COPY_THRESHOLD and _causes_precede(batch):
                return self._stream(conn, batch, head)
            existing: dict[UUID, tuple[int, bytes]] = {}
            missing: set[UUID] = set()
            if checked:
                existing, missing = self._lookups(conn, batch)
            plan = plan_append(batch, head, existing, missing)
            self._insert(conn, plan.rows)
        return plan.sequence_numbers

    @staticmethod
    def _stream(conn: Connection, batch: Batch, head: Head) -> list[int]:
        """Plan and COPY slice by slice, so the server ingests one slice while we hash the next.

        Planning a slice alone is right only on the optimistic path: an id stored in an earlier
        slice or a cause nobody stored makes the COPY fail, and the batch is redone with the
        full checks. (A cause later in the batch would pass the foreign-key check, made at
        commit since migration 010, which is why the caller checks that causes come first.)
        """
        numbers: list[int] = []
        with conn.cursor() as cur, cur.copy(COPY_EVENTS) as copy:
            copy.set_types(COPY_TYPES)
            for start in range(0, len(batch.events), STREAM_SLICE):
                stop = start + STREAM_SLICE
                part = batch.slice(start, stop)
                plan = plan_append(part, head, {}, set())
                for value in row_values(plan.rows):
                    copy.write_row(value)
                numbers.extend(plan.sequence_numbers)
                if plan.rows:
                    head = Head(plan.rows[-1].sequence_number, plan.rows[-1].hash)
        return numbers

    @staticmethod
    def _stored(conn: Connection, batch: Batch) -> dict[UUID, tuple[int, bytes]]:
        """The batch's stored events (id -> sequence, bytes), for a refused conditional append
        that may be a repeat. When every id is known but some live in the archive only, the
        archive must compare them: ArchivedEventError (the archive-aware store does)."""
        stored = {
            r[0]: (r[1], bytes(r[2]))
            for r in conn.execute(EXISTING, (batch.ids,), binary=True).fetchall()
        }
        absent = [i for i in dict.fromkeys(batch.ids) if i not in stored]
        if absent:
            known = conn.execute(KNOWN, (absent,), binary=True).fetchall()
            archived: dict[UUID, int] = {r[0]: r[1] for r in known}
            if len(archived) == len(absent):  # else some event is new: not a repeat
                raise ArchivedEventError(archived)
        return stored

    @staticmethod
    def _lookups(conn: Connection, batch: Batch) -> tuple[dict[UUID, tuple[int, bytes]], set[UUID]]:
        existing = {
            r[0]: (r[1], bytes(r[2]))
            for r in conn.execute(EXISTING, (batch.ids,), binary=True).fetchall()
        }
        if len(existing) < len(set(batch.ids)):  # an id may live on in event_ids only (pruned)
            unseen = [i for i in batch.ids if i not in existing]
            known = conn.execute(KNOWN, (unseen,), binary=True).fetchall()
            if known:
                raise ArchivedEventError({r[0]: r[1] for r in known})
        causes = sorted(batch.external_causes())
        present = {r[0] for r in conn.execute(PRESENT, (causes,), binary=True).fetchall()}
        return existing, {c for c in causes if c not in present}

    @staticmethod
    def _insert(conn: Connection, rows: list[Row]) -> None:
        if not rows:
            return
        values = row_values(rows)
        if len(rows) == 1:
            conn.execute(INSERT_EVENT, _text_json(values[0]))
            return
        if len(rows) < COPY_THRESHOLD:
            with conn.cursor() as cur:
                cur.executemany(INSERT_EVENT, [_text_json(v) for v in values])
            return
        with conn.cursor() as cur, cur.copy(COPY_EVENTS) as copy:
            copy.set_types(COPY_TYPES)
            for value in values:
                copy.write_row(value)

    # --- reading -----------------------------------------------------------------------------
    def head(self) -> Head:
        rows = self._query(HEAD)
        return Head(rows[0][0], rows[0][1]) if rows else Head(0, GENESIS_HASH)

    def get(self, event_id: UUID) -> BaseEvent | None:
        rows = self._query(
            "SELECT sequence_number, canonical FROM events WHERE event_id = %s", (event_id,)
        )
        return decode_event(rows[0][1], rows[0][0]) if rows else None

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
        filters: list[str] = []
        params: list[Any] = []
        if event_types:
            filters.append("event_type = ANY(%s)")
            params.append([EventType(t).value for t in event_types])
        if correlation_id is not None:
            filters.append("correlation_id = %s")
            params.append(correlation_id)
        pages = read_pages(
            self._query,
            "%s",
            from_sequence,
            to_sequence,
            limit=limit,
            batch_size=batch_size,
            filters=filters,
            params=params,
        )
        return stream_pages(pages, batch_size)

    def read_time_range(
        self, start: datetime | None, end: datetime | None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[BaseEvent]:
        filters: list[str] = []
        params: list[Any] = []
        if start is not None:
            filters.append("timestamp_utc >= %s")
            params.append(start)
        if end is not None:
            filters.append("timestamp_utc < %s")
            params.append(end)
        pages = read_pages(
            self._query, "%s", 1, None, batch_size=batch_size, filters=filters, params=params
        )
        return stream_pages(pages, batch_size)

    def range_pages(
        self, first: int = 1, last: int | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[CanonicalRows]:
        """What `read(first, last)` fetches, page by page and undecoded (the benchmarks' fair
        baseline for the reader: the same queries, columns and protocol)."""
        return read_pages(self._query, "%s", first, last, batch_size=batch_size)

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
        where = ["sequence_number BETWEEN %s AND %s"]
        params: list[Any] = [from_sequence, LAST_SEQUENCE if to_sequence is None else to_sequence]
        if symbol is not None:
            where.append(f"{SYMBOL} = %s")
            params.append(symbol)
        if event_types:
            where.append("event_type = ANY(%s)")
            params.append([EventType(t).value for t in event_types])
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT sequence_number, canonical FROM events WHERE {' AND '.join(where)}"
            f" ORDER BY sequence_number {order} LIMIT %s"
        )
        return decode_page(self._planned(sql, [*params, limit]))

    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        check_range(from_sequence, to_sequence, None)
        params: list[Any] = [from_sequence, LAST_SEQUENCE if to_sequence is None else to_sequence]
        sql = BARS
        if symbol is not None:
            sql += f" AND {SYMBOL} = %s"
            params.append(symbol)
        return [BarRow(*row) for row in self._planned(sql + " ORDER BY sequence_number", params)]

    def bar_buckets(
        self,
        symbol: str,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        *,
        buckets: int,
    ) -> list[BarBucket]:
        check_range(from_sequence, to_sequence, None)
        if buckets < 1:
            raise StoreError(f"the number of buckets must be 1 or more, got {buckets}")
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        rows = self._planned(BAR_BUCKETS, (buckets, symbol, from_sequence, last))
        return [BarBucket(*row) for row in rows]

    def chart_events(
        self, symbol: str, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[ChartEvent]:
        check_range(from_sequence, to_sequence, None)
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        rows = self._planned(CHART_EVENTS, {"first": from_sequence, "last": last, "symbol": symbol})
        events = decode_page((seq, data) for seq, data, _ in rows)
        return [ChartEvent(e, row[2]) for e, row in zip(events, rows, strict=True)]

    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        return [SymbolStats(*row) for row in self._planned(SYMBOL_STATS, (from_sequence, last))]

    def sequence_at(self, when: datetime) -> int:
        def find(conn: Connection) -> int:
            params = {"when": when, "window": DISORDER_WINDOW}
            row = conn.execute(SEQUENCE_AT, params, prepare=False).fetchone()
            first, earlier, head = row or (None, None, None)
            if first is None:
                return int(head or 0)
            while earlier is not None:  # stamped later, yet earlier in sequence: look further
                first = earlier
                row = conn.execute(
                    EARLIER_AFTER, (max(1, first - DISORDER_WINDOW), first, when), prepare=False
                ).fetchone()
                earlier = row[0] if row else None
            return int(first) - 1

        return self._run("sequence_at", find)

    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        return decode_page(self._query(ANCESTORS, (event_id,)))

    def effects(self, event_id: UUID) -> list[BaseEvent]:
        def walk(conn: Connection) -> list[tuple[int, bytes]]:
            found: list[tuple[int, bytes]] = []
            frontier = [event_id]
            while frontier:  # causes always precede effects, so there are no cycles
                rows = conn.execute(CHILDREN, (frontier,), binary=True).fetchall()
                found.extend((seq, data) for _, seq, data in rows)
                frontier = [child for child, _, _ in rows]
            return sorted(found)

        return decode_page(self._run("effects", walk))

    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:
        return [TypeStats(t, n, lo, hi) for t, n, lo, hi in self._query(STATS, (since, until))]

    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        rows = self._query(LATEST_SNAPSHOT, (at_or_below,))
        return decode_event(rows[0][1], rows[0][0]) if rows else None

    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        check_range(from_sequence, to_sequence, None)
        return self._records(from_sequence, to_sequence if to_sequence is not None else 2**62)

    def _records(self, cursor: int, last: int) -> Iterator[ChainRecord]:
        while cursor <= last:
            rows = self._query(RECORDS, (cursor, last, DEFAULT_BATCH_SIZE))
            yield from (chain_record(r, format_utc(r[3])) for r in rows)
            if len(rows) < DEFAULT_BATCH_SIZE:
                return
            cursor = rows[-1][0] + 1

    def raw_pages(
        self, from_sequence: int, to_sequence: int, page_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[RawPage]:
        return raw_pages_by(
            lambda *bounds: self._query(RAW_PAGE, bounds), from_sequence, to_sequence, page_size
        )

    def linked_records(self, sequences: Collection[int]) -> dict[int, LinkedRecord]:
        if not sequences:
            return {}
        rows = self._query(LINKED, (sorted(sequences),))
        return {
            r[0]: LinkedRecord(chain_record(r, format_utc(r[3])), r[12], bool(r[13])) for r in rows
        }

    # --- pruning (claire archive prune) ------------------------------------------------------
    can_prune = True

    def pruned_through(self) -> int:
        rows = self._query(PRUNED_THROUGH)
        return int(rows[0][0]) if rows else 0

    def prune(self, through: int, hash_at: str, archive_url: str | None) -> None:
        """Delete sequences 1..through with claire_prune() (migration 010): in one transaction
        it moves the recorded boundary, which the database accepts only forward, below the
        head and naming the hash stored at `through`, and removes the rows the delete trigger
        then lets go. Needs the owner's rights (the writer role may not prune)."""

        def run(conn: Connection) -> None:
            try:
                conn.execute(PRUNE, (through, hash_at, archive_url))
            except pg_errors.RestrictViolation:
                # Pruned through exactly there already (a retry after a lost connection whose
                # prune had committed, or a second run): done, as on SQLite.
                if conn.execute(PRUNED_AT).fetchone() == (through, hash_at):
                    return
                raise
            except pg_errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"prune failed: {first_line(exc)} (prune as the role that migrates the "
                    "store or owns its tables; the writer and reader roles may not)"
                ) from exc

        self._run("prune", run)


def _refusal(conn: Connection, head: Head, expect: Expectation) -> ConcurrencyError | None:
    def count(correlation_id: UUID, boundary: int) -> int:
        # Pruned rows are gone from `events`: its count is the count above the boundary only
        # while the boundary is where the caller counted the archive up to.
        row = conn.execute(CORRELATION_COUNT, (correlation_id,)).fetchone()
        pruned, counted = (int(row[0] or 0), int(row[1])) if row else (0, 0)
        if pruned != boundary:
            raise ArchiveBoundaryError(pruned, boundary)
        return counted

    return expect.refusal(head.sequence_number, count)


def row_values(rows: list[Row]) -> list[tuple[Any, ...]]:
    """Column values in COLUMNS order; metadata JSON is encoded once per producer."""
    metadata_json: dict[int, bytes] = {}
    values = []
    for r in rows:
        event = r.event
        meta = metadata_json.get(id(event.metadata))
        if meta is None:
            meta = metadata_json[id(event.metadata)] = r.metadata_json
        values.append(
            (
                event.event_id,
                event.event_type.value,
                r.sequence_number,
                event.timestamp_utc,
                event.timestamp_logical,
                event.causation_id,
                event.correlation_id,
                meta,
                orjson.dumps(event.payload),
                r.prev_hash,
                r.hash,
                r.canonical,
            )
        )
    return values


def _causes_precede(batch: Batch) -> bool:
    """True unless an event names as its cause an event that comes later in the batch."""
    ids = set(batch.ids)
    earlier: set[UUID] = set()
    for event in batch.events:
        cause = event.causation_id
        if cause is not None and cause in ids and cause not in earlier:
            return False
        earlier.add(event.event_id)
    return True


def _text_json(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """The INSERT form: the two JSON columns as text (cast to jsonb in the statement)."""
    return (*value[:7], value[7].decode(), value[8].decode(), *value[9:])


__all__ = ["PostgresEventStore"]
