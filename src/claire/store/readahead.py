"""Fetch the next page of a long read while the caller works on the current one.

A page of rows spends much of its time in the database server and on the socket, outside the
Python interpreter lock. A thread fetches page N+1 while the caller decodes and folds page N;
a bounded queue keeps at most `depth` pages waiting, so memory stays flat whatever the range.
The thread is the read's own: it ends with the read, and nothing process-wide changes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Final, Generic, TypeVar

T = TypeVar("T")

_DONE: Final = object()
_POLL_SECONDS = 0.1
THREAD_NAME = "claire-read-ahead"


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate `source` through a thread that stays up to `depth` items ahead."""

    def __init__(self, source: Iterator[T], depth: int = 1) -> None:
        self._source = source
        self._items: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
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
                self._items.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                item = self._items.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item  # type: ignore[misc]  # anything else is an item of the source
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (when the consumer stops early) and wait for it."""
        self._stop.set()
        self._thread.join()


__all__ = ["THREAD_NAME", "ReadAhead"]
