"""Replay-mode safety: `ReplayMode`, `@no_replay` and the virtual clock.

Inside `with ReplayMode():` a function marked `@no_replay` does not run and returns None (the
blocked call is counted), and `now()` is the recorded time of the event being replayed, set by
the replay engine through `ReplayMode.advance(...)`. Outside replay, `now()` is the time the
live pipeline set from its input event, never the machine's clock.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

P = ParamSpec("P")
R = TypeVar("R")

_active: contextvars.ContextVar[ReplayMode | None] = contextvars.ContextVar(
    "claire_replay_mode", default=None
)
_live_now: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "claire_live_now", default=None
)


class ReplayMode:
    """Context in which the outside world is unreachable and time is the recorded time."""

    def __init__(self) -> None:
        self.blocked: Counter[str] = Counter()
        self.current_time: datetime | None = None
        self._token: contextvars.Token[ReplayMode | None] | None = None

    def __enter__(self) -> ReplayMode:
        self._token = _active.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None

    @staticmethod
    def active() -> bool:
        """True inside `with ReplayMode():` (in this thread or task)."""
        return _active.get() is not None

    @staticmethod
    def current() -> ReplayMode | None:
        return _active.get()

    def advance(self, when: datetime) -> None:
        """Move the virtual clock to the recorded time of the event being processed."""
        self.current_time = when

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())


def set_live_time(when: datetime) -> None:
    """The live pipeline's "now": the time of the input event it is reacting to."""
    _live_now.set(when)


def now() -> datetime:
    """The decision logic's notion of now: recorded time in replay, input time when live."""
    mode = _active.get()
    when = mode.current_time if mode is not None else _live_now.get()
    if when is None:
        raise RuntimeError(
            "no current time: the pipeline reads time from its input events "
            "(ReplayMode.advance or set_live_time), never from the wall clock"
        )
    return when


@overload
def no_replay(
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R | None]]: ...


@overload
def no_replay(func: Callable[P, R]) -> Callable[P, R | None]: ...


def no_replay(func: Callable[P, Any]) -> Callable[P, Any]:
    """Mark a call that reaches the outside world: inside ReplayMode it is skipped (None)."""
    name = f"{func.__module__}.{func.__qualname__}"

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            mode = _active.get()
            if mode is not None:
                mode.blocked[name] += 1
                return None
            return await func(*args, **kwargs)

        return cast(Callable[P, Any], async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        mode = _active.get()
        if mode is not None:
            mode.blocked[name] += 1
            return None
        return func(*args, **kwargs)

    return wrapper
