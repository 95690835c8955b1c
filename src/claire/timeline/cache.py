"""Answers that are pure functions of a prefix of the log, kept as their JSON bytes.

A price series or an equity curve over the sequence range first..last depends on nothing but
the events 1..last: the log is append-only and every stored hash commits to everything before
it. So the key of such an answer holds the range and the hash of the event at `last`: when the
log grows, a range that runs to the head has a new `last` (a new key); a store replaced by
another under the same URL (claire demo --fresh) has other hashes (other keys). Nothing is ever
invalidated by hand, and entries for old heads simply age out.

Bounded twice: at most MAX_ENTRIES answers and MAX_BYTES of JSON, least recently used out
first. Answers that carry the chain's verdict on each event (markers, scenes, event lines) are
never cached: a verdict is about the row as stored now.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from claire.store.port import EventStore

MAX_ENTRIES = 64
MAX_BYTES = 64 * 1024 * 1024


def hash_at(store: EventStore, sequence: int) -> str | None:
    """The stored hash of the event at `sequence` (None when there is none)."""
    for page in store.raw_pages(sequence, sequence, 1):
        return page.hash[0]
    return None


class PrefixCache:
    """JSON answers keyed by (what, the range, the hash of its last event)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get_or_build(
        self,
        store: EventStore,
        key: tuple[Hashable, ...],
        last: int | None,
        build: Callable[[], Any],
    ) -> bytes:
        """The JSON of `build()`, from the cache when the log up to `last` is the one it was
        built from. `last` None (an empty range) is never cached: it costs nothing to build."""
        anchor = hash_at(store, last) if last else None
        if anchor is None:
            return orjson.dumps(build())
        full = (*key, last, anchor)
        with self._lock:
            found = self._entries.get(full)
            if found is not None:
                self._entries.move_to_end(full)
                self.hits += 1
                return found
            self.misses += 1
        data = orjson.dumps(build())  # outside the lock: other answers go on meanwhile
        self._put(full, data)
        return data

    def _put(self, key: Hashable, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = data
            self._bytes += len(data)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)
