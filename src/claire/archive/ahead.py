"""Run an iterator one or two items ahead on a thread, so its work overlaps the consumer's.

Sealing fetches a page from the store and derives its columns (the database and DuckDB work
outside the interpreter lock) while the previous page is compressed into Parquet (pyarrow, also
outside it). A bounded queue keeps at most `depth` items in memory.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
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


def fetched_in_parallel(
    fetch: Callable[[int, int], list[T]], first: int, last: int, size: int, workers: int = 2
) -> Iterator[T]:
    """The items of `fetch(a, b)` over first..last cut into ranges of `size`, in order, with up
    to `workers` ranges fetched at once (each on its own database connection: the database's
    work for one range overlaps the next one's)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    starts = iter(range(first, last + 1, size))
    with ThreadPoolExecutor(workers, thread_name_prefix="claire-archive-fetch") as pool:
        pending: deque[Future[list[T]]] = deque()

        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                pending.append(pool.submit(fetch, start, min(start + size - 1, last)))

        for _ in range(workers):
            submit()
        try:
            while pending:
                items = pending.popleft().result()
                submit()
                yield from items
        finally:
            for future in pending:
                future.cancel()


__all__ = ["Ahead", "fetched_in_parallel"]
