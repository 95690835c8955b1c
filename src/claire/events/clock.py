"""LogicalClock: the bot's own time. Strictly increasing, never the wall clock."""

from __future__ import annotations

import threading


class LogicalClock:
    """A Lamport clock: `next()` ticks, `observe(n)` merges a time received from elsewhere."""

    def __init__(self, start: int = 0) -> None:
        if start < 0:
            raise ValueError("start: a logical clock starts at 0 or later")
        self._value = start
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        """The last value handed out (or observed); `next()` returns something larger."""
        return self._value

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value

    def observe(self, received: int) -> int:
        """Merge a received logical time so the next tick is later than it."""
        if received < 0:
            raise ValueError("received: logical times are never negative")
        with self._lock:
            self._value = max(self._value, received)
            return self._value


_default_clock = LogicalClock()


def get_clock() -> LogicalClock:
    """The process-wide clock the seed's services share."""
    return _default_clock
