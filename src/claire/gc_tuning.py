"""Fewer cyclic-GC passes during bulk work, for entry points that opt in (recording, ingesting).

Events are acyclic and freed by reference counting, yet CPython's young-generation collection
runs every 700 allocations and walks every object still alive: a fold or a batch keeps many, so
the collector rescans them again and again (measured: a third of a replay, half of an ingest
worker's time). While bulk work runs, objects that existed before it are frozen (they are not
its garbage) and young collections run every GEN0_THRESHOLD allocations. Cyclic garbage is still
collected, so memory stays flat. The settings are process-wide, hence counted: they return to
what they were when the last user leaves, and library calls that threads share never use them.
Reads and replay do not need them: stored events are decoded as they are consumed into objects
the collector does not track (benchmarks/bench_replay.py measures replay with and without).
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GEN0_THRESHOLD = 50_000
# glibc's mallopt(M_ARENA_MAX, n); see limit_malloc_arenas.
M_ARENA_MAX = -8
SEAL_ARENAS = 2

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def relaxed_gc() -> Iterator[None]:
    global _users, _saved  # noqa: PLW0603 - process-wide by nature
    with _lock:
        _users += 1
        if _users == 1:
            _saved = gc.get_threshold()
            gen0, gen1, gen2 = _saved
            gc.freeze()
            gc.set_threshold(max(gen0, GEN0_THRESHOLD), gen1, gen2)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()


def limit_malloc_arenas(arenas: int = SEAL_ARENAS) -> bool:
    """Cap glibc's malloc arenas, for an entry point whose threads hand big buffers to each other.

    Sealing fetches each page on one thread and frees it on another. With glibc's default (up
    to 8 arenas a core) freed pages stay in the fetching thread's arena: RSS grew by 320 MB
    sealing 100,000 events and 605 MB sealing 300,000 (segments of 65,536). Capped at 2 arenas:
    163 MB and 252 MB, at the same speed. Process-wide, so only `claire archive seal` calls it.
    Returns False where the C library is not glibc (nothing changes there)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
