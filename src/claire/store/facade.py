"""The seed's names as thin faces over the port: EventWriter, EventReader, open_store."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from uuid import UUID

from claire.errors import StoreError
from claire.events.model import BaseEvent
from claire.redact import redact_url
from claire.store.port import EventStore
from claire.store.skew import max_future_skew_from_env

DEFAULT_SQLITE_FILE = "claire_events.db"


def default_url() -> str:
    """DATABASE_URL, or the embedded SQLite file in the working directory."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"


def open_store(url: str | None = None, *, create: bool = False) -> EventStore:
    """memory://, sqlite:///path/to/file.db or postgresql://...; default: see `default_url`.

    Opens an existing Claire store: it never creates a file, folder or table, never migrates
    and never writes a schema, and refuses (StoreSchemaError) a missing store, another
    application's database, or a schema older or newer than this code. `create=True` (what
    `claire db migrate`, `demo` and `record` do) may create a store in a file that does not
    exist or an empty database, and upgrades an existing Claire store; it refuses anything else.
    With CLAIRE_ARCHIVE_URL set, the store reads through its archive (see `with_archive`).
    Appends refuse timestamps more than CLAIRE_MAX_FUTURE_SKEW ahead (see claire.store.skew).
    """
    skew = max_future_skew_from_env()  # a bad setting fails here, before anything is opened
    store = with_archive(_open_hot(url or default_url(), create=create))
    store.max_future_skew = skew  # on the outer store: its append is the one callers use
    return store


def with_archive(store: EventStore) -> EventStore:
    """The store as one log with its archive: wrapped by claire.archive when CLAIRE_ARCHIVE_URL
    is set; refused when it pruned sequences and no archive is configured (see docs/archive.md)."""
    if os.environ.get("CLAIRE_ARCHIVE_URL"):
        from claire.archive.store import attach_archive

        try:
            return attach_archive(store, os.environ["CLAIRE_ARCHIVE_URL"])
        except BaseException:
            store.close()
            raise
    pruned = store.pruned_through()
    if pruned:
        store.close()
        raise StoreError(
            f"sequences 1..{pruned} of {redact_url(store.url)} were moved to the archive: set "
            "CLAIRE_ARCHIVE_URL to read the whole log"
        )
    return store


def _open_hot(url: str, *, create: bool) -> EventStore:
    if url.startswith("memory://"):
        from claire.store.memory import MemoryEventStore

        return MemoryEventStore(url)
    if url.startswith("sqlite://"):
        from claire.store.sqlite import SqliteEventStore

        return SqliteEventStore(url, create=create)
    if url.startswith(("postgresql://", "postgres://")):
        from claire.store.postgres import PostgresEventStore

        return PostgresEventStore(url, create=create)
    raise StoreError(
        f"unsupported store URL {redact_url(url)!r}: use memory://, sqlite:///path/to/file.db "
        "or postgresql://user@host:port/dbname"
    )


class EventWriter:
    """Persists events: `EventWriter(store).write(event_or_events)` -> sequence numbers."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def write(
        self,
        events: BaseEvent | Iterable[BaseEvent],
        *,
        expected_sequence: int | None = None,
        expected_version: int | None = None,
    ) -> list[int]:
        """Append atomically; return each event's sequence number (stored ones keep theirs).

        Conditional (optimistic concurrency), see `EventStore.append`:
        `expected_sequence=N` writes only if the log's head is still sequence N;
        `expected_version=V` only if V events are stored under the batch's one correlation id.
        Otherwise `ConcurrencyError` (claire.ConcurrencyError) names the expected and actual
        numbers and nothing is stored::

            head = store.head().sequence_number
            ...decide from the log up to head...
            try:
                writer.write(decision, expected_sequence=head)
            except ConcurrencyError:
                ...someone appended meanwhile: read again, decide again...
        """
        return self.store.append(
            events, expected_sequence=expected_sequence, expected_version=expected_version
        )


class EventReader:
    """Reads events in order, exactly as the seed calls it."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def read_events(
        self,
        from_sequence: int = 1,
        to_sequence: int | None = None,
        limit: int | None = None,
    ) -> Iterator[BaseEvent]:
        return self.store.read(from_sequence, to_sequence, limit=limit)

    def get_event(self, event_id: UUID) -> BaseEvent | None:
        return self.store.get(event_id)

    def get_correlation_events(self, correlation_id: UUID) -> list[BaseEvent]:
        return self.store.read_correlation(correlation_id)

    def get_causation_chain(self, event_id: UUID) -> list[BaseEvent]:
        return self.store.causation_chain(event_id)
