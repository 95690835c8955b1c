"""SQLite adapter: the embedded default (one file, WAL mode, appends serialised by the database)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from claire.errors import (
    ArchiveBoundaryError,
    ArchivedEventError,
    ConcurrencyError,
    StoreError,
)
from claire.events.codec import GENESIS_HASH, decode_event
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
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
    ntile,
    plan_append,
    raw_pages_by,
    read_pages,
    repeat_or_refuse,
    stream_pages,
)
from claire.store.sqlite_schema import connect, migrate, path_from_url, translate

INSERT = (
    "INSERT INTO events (event_id, event_type, sequence_number, timestamp_utc, timestamp_logical,"
    " causation_id, correlation_id, metadata, payload, prev_hash, hash, canonical)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
CHAIN_COLUMNS = (
    "sequence_number, event_id, event_type, timestamp_utc, timestamp_logical, causation_id,"
    " correlation_id, metadata, payload, prev_hash, hash, canonical"
)
# A row with its successor's prev_hash and whether it is the head; one JSON array parameter
# holds the sequence numbers, so any number of them is one statement.
LINKED = f"""
SELECT {", ".join("e." + c.strip() for c in CHAIN_COLUMNS.split(","))}, n.prev_hash,
       e.sequence_number = (SELECT max(sequence_number) FROM events)
FROM events e LEFT JOIN events n ON n.sequence_number = e.sequence_number + 1
WHERE e.sequence_number IN (SELECT value FROM json_each(?))
"""
ANCESTORS = """
WITH RECURSIVE chain(event_id, causation_id, depth) AS (
    SELECT event_id, causation_id, 0 FROM events WHERE event_id = ?
    UNION ALL
    SELECT e.event_id, e.causation_id, c.depth + 1
    FROM events e JOIN chain c ON e.event_id = c.causation_id
)
SELECT e.sequence_number, e.canonical FROM chain c JOIN events e USING (event_id)
ORDER BY c.depth DESC
"""
DESCENDANTS = """
WITH RECURSIVE tree(event_id) AS (
    SELECT event_id FROM events WHERE causation_id = ?
    UNION
    SELECT e.event_id FROM events e JOIN tree t ON e.causation_id = t.event_id
)
SELECT e.sequence_number, e.canonical FROM tree JOIN events e USING (event_id)
ORDER BY e.sequence_number
"""

# The symbol an event is about, exactly as migration 003 indexes it (see port.event_symbol).
SYMBOL = "COALESCE(json_extract(payload, '$.symbol'), json_extract(payload, '$.context.symbol'))"
# The payload whole, parsed here: measured faster than six json_extract calls per row. The
# unary + keeps the type index out, so a symbol's bars come from the symbol index (SQLite
# plans without statistics and picked the type index: every symbol's bars, filtered).
BARS = (
    "SELECT sequence_number, timestamp_utc, payload FROM events"
    " WHERE +event_type = 'market_data' AND sequence_number BETWEEN ? AND ?"
)
# A symbol's decisions and fills (the type index leads, see find_events) and every alert,
# each decision with its cause's price.
CHART_EVENTS = f"""
WITH chosen AS (
    SELECT sequence_number, canonical, causation_id, event_type FROM events
    WHERE sequence_number BETWEEN :first AND :last AND +{SYMBOL} = :symbol
      AND event_type IN ('risk_decision', 'order_result')
    UNION ALL
    SELECT sequence_number, canonical, causation_id, event_type FROM events
    WHERE sequence_number BETWEEN :first AND :last AND event_type = 'alert'
)
SELECT c.sequence_number, c.canonical, json_extract(cause.payload, '$.price')
FROM chosen c LEFT JOIN events cause
  ON c.event_type = 'risk_decision' AND cause.event_id = c.causation_id
ORDER BY c.sequence_number
"""
SYMBOL_STATS = (
    f"SELECT {SYMBOL}, COUNT(*), MIN(sequence_number), MAX(sequence_number),"
    " MIN(timestamp_utc), MAX(timestamp_utc) FROM events"
    " WHERE event_type = 'market_data' AND sequence_number BETWEEN ? AND ? GROUP BY 1 ORDER BY 1"
)
# As store.postgres.SEQUENCE_AT: the first event after, an earlier one stamped later, the head.
SEQUENCE_AT = """
WITH first AS (
    SELECT sequence_number AS s FROM events WHERE timestamp_utc > :when
    ORDER BY timestamp_utc, sequence_number LIMIT 1
)
SELECT first.s,
       (SELECT min(e.sequence_number) FROM events e
        WHERE e.sequence_number >= first.s - :window AND e.sequence_number < first.s
          AND e.timestamp_utc > :when),
       (SELECT max(sequence_number) FROM events)
FROM (SELECT 1) AS one LEFT JOIN first ON 1
"""
EARLIER_AFTER = (
    "SELECT MIN(sequence_number) FROM events"
    " WHERE sequence_number >= ? AND sequence_number < ? AND timestamp_utc > ?"
)


RAW_PAGE = (
    "SELECT sequence_number, canonical, prev_hash, hash FROM events"
    " WHERE sequence_number >= ? AND sequence_number <= ? ORDER BY sequence_number LIMIT ?"
)
# The delete trigger exactly as 004_archive_prune.sql creates it (prune puts it back).
IMMUTABLE_DELETE = """CREATE TRIGGER events_immutable_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'Events are immutable');
END"""


def row_values(r: Row) -> tuple[Any, ...]:
    """The INSERT parameters of one planned row (its canonical document has the texts)."""
    doc = r.document
    return (
        doc["event_id"],
        doc["event_type"],
        r.sequence_number,
        doc["timestamp_utc"],
        doc["timestamp_logical"],
        doc["causation_id"],
        doc["correlation_id"],
        r.metadata_json.decode(),
        r.payload_json.decode(),
        r.prev_hash,
        r.hash,
        r.canonical,
    )


def _bar(sequence: int, timestamp: str, p: dict[str, Any]) -> BarRow:
    return BarRow(
        sequence,
        datetime.fromisoformat(timestamp),
        p["symbol"],
        p["price"],
        p.get("open"),
        p.get("high"),
        p.get("low"),
        p["volume"],
    )


class SqliteEventStore(EventStore):
    """`SqliteEventStore("sqlite:///file.db")` opens an existing store (never creating or
    migrating it); `create=True` creates or upgrades one (see claire.store.sqlite_schema)."""

    can_prune = True

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.url = url
        self.path = path_from_url(url)
        self._db = connect(self.path, create=create)
        self._lock = threading.RLock()

    def migrate(self) -> list[str]:
        with self._lock:
            return migrate(self._db, f"SQLite store {self.path}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite query failed: {exc}") from exc

    # --- writing -----------------------------------------------------------------------------
    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        with self._lock:
            try:
                try:
                    return self._append_transaction(batch, expect, checked=False)
                except sqlite3.IntegrityError:
                    # An id is stored already or a cause is not: redo the batch with the
                    # lookups, which return stored sequence numbers or name the bad event.
                    return self._append_transaction(batch, expect, checked=True)
            except sqlite3.Error as exc:
                raise self._append_error(exc) from exc

    def _append_error(self, exc: sqlite3.Error) -> StoreError:
        if "chain guard" in str(exc):  # its literal message (002_chain_guard.sql) + the values
            head = self._head(self._db)
            return StoreError(
                f"SQLite append refused by the {exc} "
                f"(the head is sequence {head.sequence_number}, hash {head.hash})"
            )
        return translate(exc, f"SQLite store {self.path}", "append failed")

    def _append_transaction(
        self, batch: Batch, expect: Expectation | None, *, checked: bool
    ) -> list[int]:
        """One transaction; unchecked, the constraints catch what the lookups would have.
        BEGIN IMMEDIATE takes the write lock first, so what is read here (the head, and for
        a conditional append the correlation's count) stays true until the COMMIT."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            head = self._head(db)
            if expect is not None and (refused := self._refusal(db, head, expect)) is not None:
                numbers = repeat_or_refuse(refused, batch, self._stored(db, batch))
                db.execute("ROLLBACK")  # nothing was written
                return numbers
            existing: dict[UUID, tuple[int, bytes]] = {}
            missing: set[UUID] = set()
            if checked:
                existing, missing = self._lookups(db, batch)
            plan = plan_append(batch, head, existing, missing)
            db.executemany(INSERT, [row_values(r) for r in plan.rows])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return plan.sequence_numbers

    def _refusal(
        self, db: sqlite3.Connection, head: Head, expect: Expectation
    ) -> ConcurrencyError | None:
        def count(correlation_id: UUID, boundary: int) -> int:
            # Pruned rows are gone from `events`: its count is the count above the boundary
            # only while the boundary is where the caller counted the archive up to.
            pruned = self._pruned(db)
            if pruned != boundary:
                raise ArchiveBoundaryError(pruned, boundary)
            row = db.execute(
                "SELECT count(*) FROM events WHERE correlation_id = ?", (str(correlation_id),)
            ).fetchone()
            return int(row[0])

        return expect.refusal(head.sequence_number, count)

    def _stored(self, db: sqlite3.Connection, batch: Batch) -> dict[UUID, tuple[int, bytes]]:
        """The batch's stored events (id -> sequence, bytes), for a refused conditional append
        that may be a repeat. When every id is known but some live in the archive only, the
        archive must compare them: ArchivedEventError (the archive-aware store does)."""
        ids = [str(i) for i in batch.ids]
        sql = "SELECT event_id, sequence_number, canonical FROM events WHERE event_id IN"
        stored = {UUID(r[0]): (r[1], bytes(r[2])) for r in self._in(db, sql, ids)}
        absent = [i for i in dict.fromkeys(ids) if UUID(i) not in stored]
        if absent:
            sql = "SELECT event_id, sequence_number FROM event_ids WHERE event_id IN"
            archived = {UUID(i): seq for i, seq in self._in(db, sql, absent)}
            if len(archived) == len(absent):  # else some event is new: not a repeat
                raise ArchivedEventError(archived)
        return stored

    def _lookups(
        self, db: sqlite3.Connection, batch: Batch
    ) -> tuple[dict[UUID, tuple[int, bytes]], set[UUID]]:
        ids = [str(i) for i in batch.ids]
        existing = {
            UUID(r[0]): (r[1], bytes(r[2]))
            for r in self._in(
                db, "SELECT event_id, sequence_number, canonical FROM events WHERE event_id IN", ids
            )
        }
        if len(existing) < len(set(ids)):  # an id may live on in event_ids only (pruned)
            known = self._in(
                db, "SELECT event_id, sequence_number FROM event_ids WHERE event_id IN", ids
            )
            archived = {UUID(i): seq for i, seq in known if UUID(i) not in existing}
            if archived:
                raise ArchivedEventError(archived)
        causes = sorted(str(c) for c in batch.external_causes())
        present = {
            r[0] for r in self._in(db, "SELECT event_id FROM event_ids WHERE event_id IN", causes)
        }
        return existing, {UUID(c) for c in causes if c not in present}

    @staticmethod
    def _in(db: sqlite3.Connection, prefix: str, values: list[str]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(values), 500):  # stay under SQLite's parameter limit
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(db.execute(f"{prefix} ({marks})", chunk).fetchall())
        return rows

    @staticmethod
    def _head(db: sqlite3.Connection) -> Head:
        row = db.execute(
            "SELECT sequence_number, hash FROM events ORDER BY sequence_number DESC LIMIT 1"
        ).fetchone()
        return Head(row[0], row[1]) if row else Head(0, GENESIS_HASH)

    # --- reading -----------------------------------------------------------------------------
    def head(self) -> Head:
        with self._lock:
            return self._head(self._db)

    def get(self, event_id: UUID) -> BaseEvent | None:
        rows = self._query(
            "SELECT sequence_number, canonical FROM events WHERE event_id = ?", (str(event_id),)
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
            filters.append(f"event_type IN ({','.join('?' * len(event_types))})")
            params.extend(EventType(t).value for t in event_types)
        if correlation_id is not None:
            filters.append("correlation_id = ?")
            params.append(str(correlation_id))
        pages = read_pages(
            self._query,
            "?",
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
            filters.append("timestamp_utc >= ?")
            params.append(format_utc(start))
        if end is not None:
            filters.append("timestamp_utc < ?")
            params.append(format_utc(end))
        pages = read_pages(
            self._query, "?", 1, None, batch_size=batch_size, filters=filters, params=params
        )
        return stream_pages(pages, batch_size)

    def range_pages(
        self, first: int = 1, last: int | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[CanonicalRows]:
        """What `read(first, last)` fetches, page by page and undecoded (the benchmarks' fair
        baseline for the reader: the same queries and columns)."""
        return read_pages(self._query, "?", first, last, batch_size=batch_size)

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
        where = ["sequence_number BETWEEN ? AND ?"]
        params: list[Any] = [from_sequence, LAST_SEQUENCE if to_sequence is None else to_sequence]
        if symbol is not None:
            # With types too, the type index leads (a symbol's decisions are few among its
            # bars): the unary + keeps SQLite, which plans without statistics, off the other.
            where.append(f"{'+' if event_types else ''}{SYMBOL} = ?")
            params.append(symbol)
        if event_types:
            where.append(f"event_type IN ({','.join('?' * len(event_types))})")
            params.extend(EventType(t).value for t in event_types)
        order = "DESC" if newest_first else "ASC"
        rows = self._query(
            f"SELECT sequence_number, canonical FROM events WHERE {' AND '.join(where)}"
            f" ORDER BY sequence_number {order} LIMIT ?",
            [*params, -1 if limit is None else limit],
        )
        return decode_page(rows)

    def bars(
        self, symbol: str | None, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[BarRow]:
        check_range(from_sequence, to_sequence, None)
        params: list[Any] = [from_sequence, LAST_SEQUENCE if to_sequence is None else to_sequence]
        sql = BARS
        if symbol is not None:
            sql += f" AND {SYMBOL} = ?"
            params.append(symbol)
        rows = self._query(sql + " ORDER BY sequence_number", params)
        return [_bar(seq, ts, orjson.loads(payload)) for seq, ts, payload in rows]

    def bar_buckets(
        self,
        symbol: str,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        *,
        buckets: int,
    ) -> list[BarBucket]:
        # No BarRow per bar: payloads parsed whole, only each bucket's first time parsed
        # (measured: the per-bar objects were most of GET /series on the demo day).
        check_range(from_sequence, to_sequence, None)
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        rows = self._query(
            f"{BARS} AND {SYMBOL} = ? ORDER BY sequence_number", (from_sequence, last, symbol)
        )
        payloads = [orjson.loads(r[2]) for r in rows]
        return [
            BarBucket.of_payloads(
                rows[a][0], rows[b - 1][0], datetime.fromisoformat(rows[a][1]), payloads[a:b]
            )
            for a, b in ntile(len(rows), buckets)
        ]

    def chart_events(
        self, symbol: str, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[ChartEvent]:
        check_range(from_sequence, to_sequence, None)
        last = LAST_SEQUENCE if to_sequence is None else to_sequence
        rows = self._query(CHART_EVENTS, {"first": from_sequence, "last": last, "symbol": symbol})
        events = decode_page((seq, data) for seq, data, _ in rows)
        return [ChartEvent(e, row[2]) for e, row in zip(events, rows, strict=True)]

    def symbol_stats(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> list[SymbolStats]:
        return [
            SymbolStats(
                symbol, n, lo, hi, datetime.fromisoformat(first), datetime.fromisoformat(last)
            )
            for symbol, n, lo, hi, first, last in self._query(
                SYMBOL_STATS, (from_sequence, LAST_SEQUENCE if to_sequence is None else to_sequence)
            )
        ]

    def sequence_at(self, when: datetime) -> int:
        stamp = format_utc(when)
        first, earlier, head = self._query(SEQUENCE_AT, {"when": stamp, "window": DISORDER_WINDOW})[
            0
        ]
        if first is None:
            return int(head or 0)
        while earlier is not None:  # stamped later, yet earlier in sequence: look further
            first = earlier
            earlier = self._query(EARLIER_AFTER, (max(1, first - DISORDER_WINDOW), first, stamp))[
                0
            ][0]
        return int(first) - 1

    def causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        return decode_page(self._query(ANCESTORS, (str(event_id),)))

    def effects(self, event_id: UUID) -> list[BaseEvent]:
        return decode_page(self._query(DESCENDANTS, (str(event_id),)))

    def stats(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[TypeStats]:
        where, params = ["1=1"], []
        if since is not None:
            where.append("timestamp_utc >= ?")
            params.append(format_utc(since))
        if until is not None:
            where.append("timestamp_utc < ?")
            params.append(format_utc(until))
        rows = self._query(
            "SELECT event_type, COUNT(*), MIN(timestamp_utc), MAX(timestamp_utc) FROM events"
            f" WHERE {' AND '.join(where)} GROUP BY event_type ORDER BY event_type",
            params,
        )
        return [
            TypeStats(t, n, datetime.fromisoformat(lo), datetime.fromisoformat(hi))
            for t, n, lo, hi in rows
        ]

    def latest_snapshot(self, at_or_below: int) -> BaseEvent | None:
        rows = self._query(
            "SELECT sequence_number, canonical FROM events WHERE event_type = 'state_snapshot'"
            " AND CAST(json_extract(payload, '$.at_sequence') AS INTEGER) <= ?"
            " AND CAST(json_extract(payload, '$.at_sequence') AS INTEGER) < sequence_number"
            " ORDER BY CAST(json_extract(payload, '$.at_sequence') AS INTEGER) DESC,"
            " sequence_number LIMIT 1",  # the first written for that point wins
            (at_or_below,),
        )
        return decode_event(rows[0][1], rows[0][0]) if rows else None

    def iter_records(
        self, from_sequence: int = 1, to_sequence: int | None = None
    ) -> Iterator[ChainRecord]:
        check_range(from_sequence, to_sequence, None)
        last = to_sequence if to_sequence is not None else 2**62
        cursor = from_sequence
        while cursor <= last:
            rows = self._query(
                f"SELECT {CHAIN_COLUMNS} FROM events WHERE sequence_number >= ?"
                " AND sequence_number <= ? ORDER BY sequence_number LIMIT ?",
                (cursor, last, DEFAULT_BATCH_SIZE),
            )
            yield from (chain_record(r, r[3]) for r in rows)
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
        rows = self._query(LINKED, (orjson.dumps(sorted(sequences)).decode(),))
        return {r[0]: LinkedRecord(chain_record(r, r[3]), r[12], bool(r[13])) for r in rows}

    # --- pruning (claire archive prune) ------------------------------------------------------
    def pruned_through(self) -> int:
        rows = self._query("SELECT through FROM claire_pruned WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def prune(self, through: int, hash_at: str, archive_url: str | None) -> None:
        """Delete sequences 1..through in one transaction that lifts the delete trigger and
        puts it back: no other connection ever sees the table unguarded (SQLite has no
        partitions to detach; see docs/archive.md)."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    head = self._head(db)
                    row = db.execute(
                        "SELECT hash FROM events WHERE sequence_number = ?", (through,)
                    ).fetchone()
                    if through >= head.sequence_number:
                        raise StoreError(
                            f"cannot prune through {through}: the head ({head.sequence_number}) "
                            "stays in the hot store"
                        )
                    if row is not None and row[0] != hash_at:
                        raise StoreError(
                            f"cannot prune through {through}: its hash is {row[0][:16]}…, the "
                            f"archive's {hash_at[:16]}…"
                        )
                    db.execute("DROP TRIGGER events_immutable_delete")
                    db.execute("DELETE FROM events WHERE sequence_number <= ?", (through,))
                    db.execute(IMMUTABLE_DELETE)
                    db.execute(
                        "INSERT OR REPLACE INTO claire_pruned (id, through, hash, archive_url)"
                        " VALUES (1, ?, ?, ?)",
                        (max(through, self._pruned(db)), hash_at, archive_url),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise translate(exc, f"SQLite store {self.path}", "prune failed") from exc

    @staticmethod
    def _pruned(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT through FROM claire_pruned WHERE id = 1").fetchone()
        return int(row[0]) if row else 0
