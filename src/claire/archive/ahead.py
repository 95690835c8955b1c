"""Run an iterator one or two items ahead on a thread, so its work overlaps the consumer's.

Sealing fetches a page from the store and derives its columns (the database and DuckDB work
outside the interpreter lock) while the previous page is compressed into Parquet (pyarrow, also
outside it). A bounded queue keeps at most `depth` items in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Ahead(Generic[T]):
    def __init__(self, source: Iterator[T], depth: int = 2) -> None:
        self._source = source
        self._items: queue.Queue[T | _End] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claire-archive-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end = _End()
        try:
            for item in self._source:
                while not self._stop.is_set():
                    try:
                        self._items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            end = _End(exc)
        self._items.put(end)

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                item = self._items.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._items.get(timeout=0.1)
            except queue.Empty:
                continue
        self._thread.join()


__all__ = ["Ahead"]
