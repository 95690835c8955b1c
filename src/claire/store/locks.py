"""One recorder at a time: an exclusive, non-blocking lock per store, held for a whole session.

The append lock (PostgreSQL's `pg_advisory_xact_lock`, SQLite's write transaction) only keeps
each batch gapless; two recordings could still interleave their batches, each deciding on a
state the other is changing. A recording therefore takes this lock before it reads the state
it will continue or writes anything, and a second recording fails at once, having written
nothing.

- SQLite: `flock` on a sibling file `<database>.lock` (never on the database itself, whose file
  `--fresh` may delete and SQLite locks on its own). The file is left in place: deleting a lock
  file on release lets two later processes lock two different files.
- PostgreSQL: a session-level advisory lock on a dedicated connection (not the pool's), with a
  key distinct from the append and migration keys. The server drops it with the connection,
  so a killed recorder never leaves it behind.
- memory:// stores live in one process: a lock per URL in that process.

The lock is re-entrant within a thread (the CLI takes it before `--fresh` deletes a file, the
recorder again around the session); another thread or process is refused.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claire.errors import StoreError, StoreUnavailableError
from claire.redact import redact_text, redact_url, url_password

# Next to APPEND_LOCK_KEY (...01) and MIGRATE_LOCK_KEY (...02) in claire.store.postgres.
RECORD_LOCK_KEY = 0x436C_6169_7265_03  # "Claire" + 3
LOCK_SUFFIX = ".lock"
# Who holds a bigint advisory lock: its high and low 32 bits are classid and objid.
HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = %s AND objid = %s"
)
BUSY_HINT = "wait for it to finish; only one recording may write to a store at a time"


class StoreBusyError(StoreError):
    """Another recording holds the store."""


@dataclass(slots=True)
class _Held:
    thread: int
    depth: int
    release: Callable[[], None]


_held: dict[str, _Held] = {}
_registry = threading.Lock()


@contextmanager
def recording_lock(url: str) -> Iterator[None]:
    """Hold the store at `url` for one recording; StoreBusyError if someone else holds it."""
    key, acquire = _lock_for(url)
    me = threading.get_ident()
    with _registry:
        held = _held.get(key)
        if held is not None:
            if held.thread != me:
                raise StoreBusyError(
                    f"another recording in this process holds the store; {BUSY_HINT}"
                )
            held.depth += 1
        else:
            _held[key] = _Held(me, 1, acquire())
    try:
        yield
    finally:
        with _registry:
            held = _held[key]
            held.depth -= 1
            if held.depth == 0:
                del _held[key]
                held.release()


def lock_path(url: str) -> Path | None:
    """The SQLite store's lock file, or None for a store that has none."""
    from claire.store.sqlite_schema import path_from_url

    path = path_from_url(url)
    return None if path == ":memory:" else Path(path + LOCK_SUFFIX)


def _lock_for(url: str) -> tuple[str, Callable[[], Callable[[], None]]]:
    if url.startswith("sqlite://"):
        path = lock_path(url)
        if path is None:
            return url, _no_lock
        return str(path.resolve()), lambda: _file_lock(path)
    if url.startswith(("postgresql://", "postgres://")):
        return url, lambda: _advisory_lock(url)
    return url, _no_lock


def _no_lock() -> Callable[[], None]:
    return lambda: None


def _file_lock(path: Path) -> Callable[[], None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the recording lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise StoreBusyError(
            f"another recording is writing to this store ({who} holds {path}); {BUSY_HINT}"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {path}: {exc.strerror}") from None
    # Say who holds it, for the message the next recorder prints.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return release


def _advisory_lock(url: str) -> Callable[[], None]:
    import psycopg

    try:
        conn: psycopg.Connection[Any] = psycopg.connect(
            url, autocommit=True, connect_timeout=5, application_name="claire recorder"
        )
    except psycopg.Error as exc:
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {redact_url(url)} to take the recording lock: "
            f"{redact_text(_first_line(exc), [url_password(url)])}"
        ) from None
    try:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RECORD_LOCK_KEY,)).fetchone()
        if not (row and row[0]):
            holder = conn.execute(HOLDER, (RECORD_LOCK_KEY >> 32, RECORD_LOCK_KEY & 0xFFFF_FFFF))
            found = holder.fetchone()
            who = f"server process {found[0]}" if found else "another session"
            raise StoreBusyError(
                f"another recording is writing to this store ({who} holds its PostgreSQL "
                f"advisory lock {RECORD_LOCK_KEY:#x}); {BUSY_HINT}"
            )
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(
            f"cannot take the recording lock: {redact_text(_first_line(exc), [url_password(url)])}"
        ) from None
    except BaseException:
        conn.close()
        raise

    def release() -> None:
        # Closing the connection ends the session and with it the lock, even if the unlock
        # cannot be sent (the server went away).
        conn.close()

    return release


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["RECORD_LOCK_KEY", "StoreBusyError", "lock_path", "recording_lock"]
