"""The tamper matrix: a privileged user edits the log behind the store's back; verify says where.

Each case tampers a throwaway database (SQLite file or PostgreSQL database) holding four trades
(20 events, a signed checkpoint after each trade) directly, with the immutability triggers out
of the way (SQLite: dropped; PostgreSQL: `ALTER TABLE events DISABLE TRIGGER ALL` as superuser).
tests/integration/test_tamper_matrix.py asserts the first bad sequence number `verify` names for
each case; `benchmarks/faults.py` prints the matrix from `run_matrix`.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from claire.audit.checkpoint import write_checkpoint
from claire.audit.checkpoint_verify import add_checkpoint_findings
from claire.audit.keys import TrustedKey, public_hex
from claire.audit.verify import Problem, VerifyReport, verify_log
from claire.events.codec import GENESIS_HASH, canonical_bytes, chain_hash
from claire.store import open_store
from claire.store.sql import migrations
from claire.store.sqlite_schema import statements
from rigs.factories import factory, trade

TRADES = 4
EVENTS = 5 * TRADES
TARGET = 7  # an event in the middle: the signal of the second trade (6..10)


# --- raw access as a privileged user -------------------------------------------------------------


class RawDb(ABC):
    """Direct SQL on the events table with the immutability triggers disabled."""

    placeholder = "?"

    @abstractmethod
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def close(self) -> None: ...

    def q(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    def row(self, seq: int) -> dict[str, Any]:
        [found] = self.execute(
            self.q(
                "SELECT event_id, metadata, payload, prev_hash, hash, canonical"
                " FROM events WHERE sequence_number = ?"
            ),
            (seq,),
        )
        metadata, payload = (orjson.loads(v) if isinstance(v, str) else v for v in found[1:3])
        return {
            "event_id": str(found[0]),
            "metadata": metadata,
            "payload": payload,
            "prev_hash": found[3],
            "hash": found[4],
            "canonical": bytes(found[5]),
        }

    def set_json(self, seq: int, column: str, value: Any) -> None:
        assert column in {"metadata", "payload"}
        self.execute(
            self.q(f"UPDATE events SET {column} = {self.json_param()} WHERE sequence_number = ?"),
            (orjson.dumps(value).decode(), seq),
        )

    def json_param(self) -> str:
        return "?"

    def set_text(self, seq: int, column: str, value: str) -> None:
        assert column in {"prev_hash", "hash"}
        self.execute(
            self.q(f"UPDATE events SET {column} = ? WHERE sequence_number = ?"), (value, seq)
        )

    def set_canonical(self, seq: int, value: bytes) -> None:
        self.execute(
            self.q("UPDATE events SET canonical = ? WHERE sequence_number = ?"), (value, seq)
        )

    def delete(self, first: int, last: int | None = None) -> None:
        self.execute(
            self.q("DELETE FROM events WHERE sequence_number BETWEEN ? AND ?"),
            (first, last if last is not None else first),
        )

    def move(self, old: int, new: int) -> None:
        self.execute(
            self.q("UPDATE events SET sequence_number = ? WHERE sequence_number = ?"), (new, old)
        )

    def shift_from(self, first: int, delta: int) -> None:
        """Renumber every event at or after `first` by `delta` (via negatives: no collisions)."""
        self.execute(
            self.q(
                "UPDATE events SET sequence_number = -sequence_number WHERE sequence_number >= ?"
            ),
            (first,),
        )
        self.execute(
            self.q(
                "UPDATE events SET sequence_number = -sequence_number + ? WHERE sequence_number < 0"
            ),
            (delta,),
        )

    @abstractmethod
    def insert(
        self, seq: int, doc: dict[str, Any], prev_hash: str, digest: str, data: bytes
    ) -> None: ...


# What a forger with write access to the file drops (event ids are remembered for pruning).
SQLITE_TRIGGERS = (
    "events_immutable_update",
    "events_immutable_delete",
    "events_chain_guard",
    "events_remember_id",
)
TRIGGER_NAME = re.compile(r"CREATE TRIGGER (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


class SqliteRaw(RawDb):
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        for name in SQLITE_TRIGGERS:
            self.db.execute(f"DROP TRIGGER IF EXISTS {name}")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()

    def insert(
        self, seq: int, doc: dict[str, Any], prev_hash: str, digest: str, data: bytes
    ) -> None:
        self.execute(
            "INSERT INTO events (event_id, event_type, sequence_number, timestamp_utc,"
            " timestamp_logical, causation_id, correlation_id, metadata, payload, prev_hash, hash,"
            " canonical) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            _insert_values(seq, doc, prev_hash, digest, data),
        )

    def close(self) -> None:
        # Put back the triggers __init__ dropped, each as the last migration that defines it
        # made it (opening a store does not; a later migration may redefine one).
        latest: dict[str, str] = {}
        for _, sql in migrations("sqlite"):
            for statement in statements(sql):
                named = TRIGGER_NAME.match(statement.lstrip())
                if named and named.group(1) in SQLITE_TRIGGERS:
                    latest[named.group(1)] = statement
        for statement in latest.values():
            self.db.execute(statement)
        self.db.close()


class PostgresRaw(RawDb):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.execute("ALTER TABLE events DISABLE TRIGGER ALL")

    def json_param(self) -> str:
        return "%s::jsonb"

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql.encode(), params)
        return cursor.fetchall() if cursor.description else []

    def insert(
        self, seq: int, doc: dict[str, Any], prev_hash: str, digest: str, data: bytes
    ) -> None:
        self.execute(
            "INSERT INTO events (event_id, event_type, sequence_number, timestamp_utc,"
            " timestamp_logical, causation_id, correlation_id, metadata, payload, prev_hash, hash,"
            " canonical) VALUES (%s::uuid, %s, %s, %s::timestamptz, %s, %s::uuid, %s::uuid,"
            " %s::jsonb, %s::jsonb, %s, %s, %s)",
            _insert_values(seq, doc, prev_hash, digest, data),
        )

    def close(self) -> None:
        self.conn.execute("ALTER TABLE events ENABLE TRIGGER ALL")
        for name in ("immutable_update", "immutable_delete", "immutable_truncate", "chain_guard"):
            self.conn.execute(f"ALTER TABLE events ENABLE ALWAYS TRIGGER events_{name}")
        self.conn.close()


def _insert_values(
    seq: int, doc: dict[str, Any], prev_hash: str, digest: str, data: bytes
) -> tuple[Any, ...]:
    return (
        doc["event_id"],
        doc["event_type"],
        seq,
        doc["timestamp_utc"],
        doc["timestamp_logical"],
        doc["causation_id"],
        doc["correlation_id"],
        orjson.dumps(doc["metadata"]).decode(),
        orjson.dumps(doc["payload"]).decode(),
        prev_hash,
        digest,
        data,
    )


def encode(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


# --- the cases ---------------------------------------------------------------------------------


def edit_price(raw: RawDb, seq: int, *, column: bool, canonical: bool) -> None:
    """Change the signal's price (a payload field), in the JSON column and/or the hashed bytes."""
    row = raw.row(seq)
    payload = {**row["payload"], "price": "1.0"}
    if column:
        raw.set_json(seq, "payload", payload)
    if canonical:
        doc = orjson.loads(row["canonical"])
        doc["payload"] = {**doc["payload"], "price": "1.0"}
        raw.set_canonical(seq, encode(doc))


def edit_metadata(raw: RawDb, seq: int, *, column: bool, canonical: bool) -> None:
    """Pretend another service version produced the event."""
    row = raw.row(seq)
    if column:
        raw.set_json(seq, "metadata", {**row["metadata"], "version": "6.6.6"})
    if canonical:
        doc = orjson.loads(row["canonical"])
        doc["metadata"] = {**doc["metadata"], "version": "6.6.6"}
        raw.set_canonical(seq, encode(doc))


def recompute_from(raw: RawDb, first: int, last: int) -> None:
    """What a careful forger does after an edit: re-link and re-hash everything after it."""
    prev = raw.row(first - 1)["hash"] if first > 1 else GENESIS_HASH
    for seq in range(first, last + 1):
        digest = chain_hash(prev, raw.row(seq)["canonical"])
        raw.set_text(seq, "prev_hash", prev)
        raw.set_text(seq, "hash", digest)
        prev = digest


def rewrite_history(raw: RawDb, seq: int) -> None:
    edit_price(raw, seq, column=True, canonical=True)
    recompute_from(raw, seq, EVENTS)


def edit_and_rehash(raw: RawDb, seq: int) -> None:
    """Issue 12 §1: edit one event's bytes and columns and recompute only its own hash."""
    edit_price(raw, seq, column=True, canonical=True)
    recompute_from(raw, seq, seq)


def insert_forged(raw: RawDb, seq: int) -> None:
    """A new, self-consistent event slipped in at `seq`; later events renumbered to make room."""
    raw.shift_from(seq, 1)
    forged = trade(factory("forger"))[0]
    doc = orjson.loads(canonical_bytes(forged))
    prev = raw.row(seq - 1)["hash"]
    data = encode(doc)
    raw.insert(seq, doc, prev, chain_hash(prev, data), data)


def swap(raw: RawDb, a: int, b: int) -> None:
    raw.move(a, -1)
    raw.move(b, a)
    raw.move(-1, b)


def delete_and_close_gap(raw: RawDb, seq: int) -> None:
    raw.delete(seq)
    raw.shift_from(seq + 1, -1)


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[RawDb], None]
    first_bad: int
    problem: Problem
    needs_checkpoints: bool = False


CASES = [
    Case(
        "payload edited (JSON column only)",
        lambda r: edit_price(r, TARGET, column=True, canonical=False),
        TARGET,
        Problem.COLUMNS,
    ),
    Case(
        "payload edited (canonical bytes only)",
        lambda r: edit_price(r, TARGET, column=False, canonical=True),
        TARGET,
        Problem.HASH,
    ),
    Case(
        "payload edited (column and bytes)",
        lambda r: edit_price(r, TARGET, column=True, canonical=True),
        TARGET,
        Problem.HASH,
    ),
    # The edited row passes its own checks; its successor committed to the original hash, so the
    # edited row is the first one nothing vouches for (not the successor, which is intact).
    Case(
        "payload edited, its own hash recomputed",
        lambda r: edit_and_rehash(r, TARGET),
        TARGET,
        Problem.SUCCESSOR,
    ),
    Case(
        "metadata field edited (column only)",
        lambda r: edit_metadata(r, TARGET, column=True, canonical=False),
        TARGET,
        Problem.COLUMNS,
    ),
    Case(
        "metadata field edited (column and bytes)",
        lambda r: edit_metadata(r, TARGET, column=True, canonical=True),
        TARGET,
        Problem.HASH,
    ),
    Case(
        "stored hash edited", lambda r: r.set_text(TARGET, "hash", "ab" * 32), TARGET, Problem.HASH
    ),
    Case(
        "prev_hash edited",
        lambda r: r.set_text(TARGET, "prev_hash", "cd" * 32),
        TARGET,
        Problem.PREV_HASH,
    ),
    Case("event deleted in the middle", lambda r: r.delete(TARGET), TARGET, Problem.MISSING),
    # Rows 6 and the renumbered 7 are each self-consistent, and 7 commits to a hash 6 does not
    # have: the chain cannot tell "6 rewritten with a recomputed hash" from "something after 6
    # removed", and either way nothing vouches for 6 any more (the message says both).
    Case(
        "event deleted, later ones renumbered",
        lambda r: delete_and_close_gap(r, TARGET),
        TARGET - 1,
        Problem.SUCCESSOR,
    ),
    # The forged event links correctly to its predecessor, but the next event links past it.
    Case(
        "event inserted in the middle",
        lambda r: insert_forged(r, TARGET),
        TARGET,
        Problem.INSERTED,
    ),
    Case("two events swapped", lambda r: swap(r, TARGET, TARGET + 1), TARGET, Problem.OUT_OF_ORDER),
    Case(
        "tail truncated (checkpoint covers it)",
        lambda r: r.delete(16, EVENTS),
        16,
        Problem.MISSING,
        needs_checkpoints=True,
    ),
    # A consistent chain again: only the signed checkpoints can tell. The last checkpoint that
    # still matches is at 5, so everything from 6 on is no longer vouched for.
    Case(
        "history rewritten, hashes recomputed",
        lambda r: rewrite_history(r, TARGET),
        6,
        Problem.OTHER,
        needs_checkpoints=True,
    ),
    # Issue 12 §1: every hash recomputed from the first event on; nothing is intact.
    Case(
        "whole history rewritten, hashes recomputed",
        lambda r: rewrite_history(r, 1),
        1,
        Problem.OTHER,
        needs_checkpoints=True,
    ),
    # The head has no successor to vouch for it; the checkpoint at 20 does.
    Case(
        "last event edited, its own hash recomputed",
        lambda r: edit_and_rehash(r, EVENTS),
        16,
        Problem.OTHER,
        needs_checkpoints=True,
    ),
]


# --- populating and checking a database --------------------------------------------------------


@dataclass
class Subject:
    """A populated throwaway database and how to reach it raw."""

    url: str
    raw: Callable[[], RawDb]
    checkpoints: Path
    key: Any


def populate(url: str, checkpoints: Path, key: Any) -> None:
    """Four trades from two services, a signed checkpoint after each (at 5, 10, 15, 20)."""
    producers = [factory("signal-engine"), factory("execution")]
    with open_store(url, create=True) as store:
        for index in range(TRADES):
            store.append(trade(producers[index % 2], ["BTCUSDT", "ETHUSDT"][index % 2]))
            write_checkpoint(store, checkpoints, key=key)


def detect(url: str, checkpoints: Path | None, key: Any) -> VerifyReport:
    with open_store(url, create=True) as store:
        report = verify_log(store)
        if checkpoints is not None:
            trusted = TrustedKey(public_hex(key), "the test's key")
            add_checkpoint_findings(report, store, checkpoints, trusted)
    return report


def sqlite_subject(directory: Path, key: Any) -> Subject:
    path = directory / "events.db"
    url = f"sqlite:///{path}"
    populate(url, directory / "checkpoints", key)
    return Subject(url, lambda: SqliteRaw(path), directory / "checkpoints", key)


def postgres_subject(url: str, directory: Path, key: Any) -> Subject:
    populate(url, directory / "checkpoints", key)
    return Subject(url, lambda: PostgresRaw(url), directory / "checkpoints", key)


def tamper_and_detect(subject: Subject, case: Case) -> VerifyReport:
    raw = subject.raw()
    try:
        case.tamper(raw)
    finally:
        raw.close()
    return detect(subject.url, subject.checkpoints if case.needs_checkpoints else None, subject.key)


def run_matrix(make_subject: Callable[[], Subject]) -> list[tuple[Case, VerifyReport]]:
    """Every case on a fresh subject (used by benchmarks/faults.py to print the matrix)."""
    return [(case, tamper_and_detect(make_subject(), case)) for case in CASES]
