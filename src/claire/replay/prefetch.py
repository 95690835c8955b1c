"""Read the next page of events while the current one is folded.

A store read spends much of its time waiting for the database (query execution, network),
which happens outside the Python interpreter lock. A reader thread fetches and decodes page
N+1 while the caller folds page N; a bounded queue keeps at most `depth` pages in memory, so
memory stays flat whatever the range.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Final

from claire.events.model import BaseEvent

_DONE: Final = object()
_POLL_SECONDS = 0.1


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetched:
    """Iterate `source` (a store read) through a reader thread, `chunk` events at a time."""

    def __init__(self, source: Iterator[BaseEvent], chunk: int, depth: int = 2) -> None:
        self._source = source
        self._chunk = max(1, chunk)
        self._pages: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="claire-replay-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            page: list[BaseEvent] = []
            for event in self._source:
                page.append(event)
                if len(page) >= self._chunk:
                    if not self._put(page):
                        return
                    page = []
            if page and not self._put(page):
                return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _put(self, item: object) -> bool:
        """Queue an item unless the consumer went away; False if it did."""
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[BaseEvent]:
        try:
            while True:
                item = self._pages.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                assert isinstance(item, list)
                yield from item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader (when the consumer stops early) and wait for it."""
        self._stop.set()
        self._thread.join()


def prefetched(source: Iterator[BaseEvent], chunk: int, depth: int = 2) -> Iterator[BaseEvent]:
    return iter(Prefetched(source, chunk, depth))


__all__ = ["Prefetched", "prefetched"]
