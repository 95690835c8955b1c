"""No silent death: background tasks (the ingest worker, the Pub/Sub listener, the checkpoint
timer) run under a Supervisor that restarts them with backoff, and report their health.

- `TaskHealth` is what one task says about itself: `ok`, `degraded` (working around a passing
  outage) or `down` (not running, or no sign of life for `stuck_after_s`: stuck). Readiness
  (`GET /health/ready`) reads it.
- `Supervisor` runs a task made by a factory; when the task raises, or returns without being
  asked to stop, it is `down` and a new one is made after a backoff (with jitter). After
  `max_restarts` failed restarts in a row it gives up and calls `give_up`, which in
  `claire serve` ends the process with a non-zero exit code, so a supervisor outside (Docker,
  systemd, Kubernetes) restarts it. A run that lasted `healthy_after_s` resets the count.
  A task stuck (silent) for `hung_after_s` cannot be restarted (a thread cannot be killed),
  so the Supervisor gives up then too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from claire.redact import redact_error

log = logging.getLogger("claire.supervision")


class State(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @staticmethod
    def worst(states: list[State]) -> State:
        order = [State.OK, State.DEGRADED, State.DOWN]
        return max(states, key=order.index, default=State.OK)


@dataclass(frozen=True, slots=True)
class Status:
    state: State
    detail: str | None = None


class TaskHealth:
    """Thread-safe health of one background task, with a heartbeat to detect a stuck one."""

    def __init__(self, name: str, stuck_after_s: float = 60.0) -> None:
        self.name = name
        self.stuck_after_s = stuck_after_s
        self._lock = threading.Lock()
        self._status = Status(State.DOWN, "not started yet")
        self._beat = time.monotonic()

    def set(self, state: State, detail: str | None = None) -> None:
        with self._lock:
            self._status = Status(state, detail)
            self._beat = time.monotonic()

    def ok(self) -> None:
        self.set(State.OK)

    def beat(self) -> None:
        """A sign of life: the task's loop came round (or made progress)."""
        with self._lock:
            self._beat = time.monotonic()

    def silent_s(self) -> float:
        """Seconds since the last sign of life."""
        with self._lock:
            return time.monotonic() - self._beat

    def status(self) -> Status:
        with self._lock:
            status, silent = self._status, time.monotonic() - self._beat
        if status.state is not State.DOWN and silent > self.stuck_after_s:
            return Status(State.DOWN, f"stuck: no sign of life for {silent:.0f} s")
        return status


class HealthBoard:
    """The health of every supervised task of the process, by name."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskHealth] = {}

    def register(self, name: str, stuck_after_s: float = 60.0) -> TaskHealth:
        health = TaskHealth(name, stuck_after_s)
        self._tasks[name] = health
        return health

    def statuses(self) -> dict[str, Status]:
        return {name: task.status() for name, task in sorted(self._tasks.items())}


class Backoff:
    """Exponential delays with jitter: `first`, twice that, ... up to `cap`, each ±25 %, so
    restarted workers do not retry in lockstep. (Timing only: the randomness decides nothing
    that is stored or hashed.)"""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._delay = first
        self.attempts = 0

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self.cap, delay * 2)
        self.attempts += 1
        return delay * random.uniform(0.75, 1.25)

    def reset(self) -> None:
        self._delay = self.first
        self.attempts = 0


class Runnable(Protocol):
    def run(self) -> None: ...
    def stop(self) -> None: ...


class Supervisor:
    """Runs `make()`'s task until `stop()`; restarts it when it dies (see the module doc)."""

    def __init__(
        self,
        make: Callable[[], Runnable],
        health: TaskHealth,
        *,
        give_up: Callable[[str], None],
        max_restarts: int = 5,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        healthy_after_s: float = 60.0,
        self_reporting: bool = False,
    ) -> None:
        self.make, self.health, self.give_up = make, health, give_up
        self.max_restarts = max_restarts
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self.healthy_after_s = healthy_after_s
        # A self-reporting task sets its own health (the ingest worker says `ok` only once it
        # has read from Redis); any other is `ok` while it runs.
        self.self_reporting = self_reporting
        self._stop = threading.Event()
        self._done = threading.Event()  # run() returned: the watchdog ends too
        self._lock = threading.Lock()
        self._task: Runnable | None = None
        self.restarts = 0
        # A task silent this long is hung; a thread cannot be killed, so the process must go.
        self.hung_after_s = 3 * health.stuck_after_s

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            task = self._task
        if task is not None:
            task.stop()

    def run(self) -> None:
        try:
            self._supervise()
        finally:
            self._done.set()

    def _supervise(self) -> None:
        if self.hung_after_s != float("inf"):
            threading.Thread(
                target=self._watch, name=f"watchdog-{self.health.name}", daemon=True
            ).start()
        backoff = Backoff(self.first_delay_s, self.max_delay_s)
        name = self.health.name
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reason = self._run_once()
            except Exception as exc:  # any death is reported and leads to a restart
                reason = f"{type(exc).__name__}: {redact_error(exc)}"
                log.error("%s died: %s", name, reason, exc_info=True)
            if reason is None:  # asked to stop
                break
            if time.monotonic() - started >= self.healthy_after_s:
                backoff.reset()
            delay = backoff.next()
            failures = backoff.attempts
            if failures > self.max_restarts:
                self._give_up(f"{name} failed {failures} times in a row (last: {reason})")
                return
            self.health.set(
                State.DOWN, f"stopped ({reason}); restart {failures} of {self.max_restarts} "
                f"in {delay:.1f} s"
            )  # fmt: skip
            log.warning("%s stopped (%s); restarting in %.1f s", name, reason, delay)
            self._stop.wait(delay)
            self.restarts += 1
        self.health.set(State.DOWN, "stopped")

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.hung_after_s / 10)):
            silent = self.health.silent_s()
            if silent > self.hung_after_s:
                self._give_up(f"{self.health.name} hung: no sign of life for {silent:.0f} s")
                return

    def _give_up(self, why: str) -> None:
        message = f"{why}; giving up"
        self.health.set(State.DOWN, message)
        log.critical("%s", message)
        self.give_up(message)

    def _run_once(self) -> str | None:
        """Run one task to its end: None if asked to stop, else why it ended."""
        task = self.make()
        with self._lock:
            self._task = task
        if self._stop.is_set():  # stop() came while the task was being made
            task.stop()
        if not self.self_reporting:
            self.health.ok()
        task.run()
        return None if self._stop.is_set() else "it returned without being asked to stop"
