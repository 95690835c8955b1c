"""The symbols in the log: how many bars each, and the time span of the whole log.

`SymbolCatalog` keeps the per-symbol figures and adds only what was appended since its last
look, so a long-running service answers `GET /symbols` without scanning the log each time.
"""

from __future__ import annotations

import threading
from typing import Any

from claire.events.values import format_utc
from claire.store.port import EventStore, SymbolStats
from claire.timeline.moment import event_at


def _merge(old: SymbolStats | None, new: SymbolStats) -> SymbolStats:
    if old is None:
        return new
    return SymbolStats(
        new.symbol,
        old.bars + new.bars,
        min(old.first_sequence, new.first_sequence),
        max(old.last_sequence, new.last_sequence),
        min(old.first_time, new.first_time),
        max(old.last_time, new.last_time),
    )


class SymbolCatalog:
    """Per-symbol market data figures, brought up to the head incrementally."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._through = 0
        self._table: dict[str, SymbolStats] = {}

    def document(self, store: EventStore) -> dict[str, Any]:
        """The document of `GET /symbols`."""
        head = store.head().sequence_number
        with self._lock:
            if head < self._through:  # another store, or the log was cut: start over
                self._through, self._table = 0, {}
            if head > self._through:
                for found in store.symbol_stats(self._through + 1, head):
                    self._table[found.symbol] = _merge(self._table.get(found.symbol), found)
                self._through = head
            table = [self._table[name] for name in sorted(self._table)]
        first = event_at(store, 1).timestamp_utc if head else None
        last = event_at(store, head).timestamp_utc if head else None
        return {
            "symbols": [
                {
                    "symbol": s.symbol,
                    "bars": s.bars,
                    "first_time": format_utc(s.first_time),
                    "last_time": format_utc(s.last_time),
                    "first_sequence": s.first_sequence,
                    "last_sequence": s.last_sequence,
                }
                for s in table
            ],
            "first_time": format_utc(first) if first else None,
            "last_time": format_utc(last) if last else None,
            "head_sequence": head,
        }
