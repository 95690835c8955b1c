"""The Supervisor restarts a task that dies, reports it down meanwhile, gives up after too many
failures in a row; a task's health turns down when it stops showing signs of life."""

from __future__ import annotations

import threading
import time

from claire.supervision import HealthBoard, State, Supervisor, TaskHealth


class Flaky:
    """Dies `deaths` times (raising, or returning by itself), then runs until stopped."""

    made = 0

    def __init__(self, deaths: int, seen: list[State], health: TaskHealth) -> None:
        Flaky.made += 1
        self.number = Flaky.made
        self.deaths, self.seen, self.health = deaths, seen, health
        self.stopped = threading.Event()

    def run(self) -> None:
        self.seen.append(self.health.status().state)
        if self.number <= self.deaths:
            if self.number % 2:
                raise ConnectionError("password=hunter2 refused")
            return  # ended by itself: also a death
        self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()


def supervise(deaths: int, max_restarts: int) -> tuple[Supervisor, list[State], list[str]]:
    Flaky.made = 0
    health = HealthBoard().register("flaky")
    seen: list[State] = []
    gave_up: list[str] = []
    supervisor = Supervisor(
        lambda: Flaky(deaths, seen, health),
        health,
        give_up=gave_up.append,
        max_restarts=max_restarts,
        first_delay_s=0.01,
        max_delay_s=0.02,
    )
    return supervisor, seen, gave_up


def test_a_dying_task_is_restarted_and_reported() -> None:
    supervisor, _, gave_up = supervise(deaths=3, max_restarts=5)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    deadline = time.monotonic() + 10
    while Flaky.made < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert supervisor.health.status().state is State.OK  # the fourth one runs
    supervisor.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert supervisor.restarts == 3
    assert gave_up == []
    assert supervisor.health.status().state is State.DOWN  # stopped


def test_too_many_deaths_in_a_row_give_up_with_a_redacted_reason() -> None:
    supervisor, _, gave_up = supervise(deaths=10, max_restarts=2)
    supervisor.run()  # returns once it gives up
    [message] = gave_up
    assert "flaky failed 3 times in a row" in message
    assert "hunter2" not in message and "hunter2" not in str(supervisor.health.status())
    assert supervisor.health.status().state is State.DOWN


def test_silence_is_stuck() -> None:
    health = TaskHealth("quiet", stuck_after_s=0.05)
    health.ok()
    assert health.status().state is State.OK
    time.sleep(0.1)
    status = health.status()
    assert status.state is State.DOWN and "stuck" in (status.detail or "")
    health.beat()
    assert health.status().state is State.OK


class Hung:
    """Runs without a sign of life until stopped (a call that never returns)."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def run(self) -> None:
        self.stopped.wait(10)

    def stop(self) -> None:
        self.stopped.set()


def test_a_hung_task_makes_the_supervisor_give_up() -> None:
    health = TaskHealth("hung", stuck_after_s=0.05)
    gave_up: list[str] = []
    task = Hung()
    supervisor = Supervisor(lambda: task, health, give_up=gave_up.append, self_reporting=True)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    deadline = time.monotonic() + 5
    while not gave_up and time.monotonic() < deadline:
        time.sleep(0.02)
    supervisor.stop()
    thread.join(timeout=10)
    [message] = gave_up
    assert "hung: no sign of life" in message
    assert health.status().state is State.DOWN
