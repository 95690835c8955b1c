"""ReplayMode, @no_replay (sync and async, counted) and the virtual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from claire import ReplayMode as PublicReplayMode
from claire import no_replay as public_no_replay
from claire.replay import ReplayMode, no_replay, now, set_live_time

calls: list[str] = []


@no_replay
def place_live_order(order: str) -> str:
    calls.append(order)
    return f"placed {order}"


@no_replay
async def cancel_live_order(order: str) -> str:
    await asyncio.sleep(0)
    calls.append(f"cancel {order}")
    return f"cancelled {order}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


def test_outside_replay_the_call_runs() -> None:
    assert not ReplayMode.active()
    assert place_live_order("o-1") == "placed o-1"
    assert asyncio.run(cancel_live_order("o-1")) == "cancelled o-1"
    assert calls == ["o-1", "cancel o-1"]


def test_inside_replay_sync_and_async_calls_are_blocked_and_counted() -> None:
    with ReplayMode() as mode:
        assert ReplayMode.active()
        assert place_live_order("o-1") is None
        assert place_live_order("o-2") is None
        assert asyncio.run(cancel_live_order("o-1")) is None
    assert calls == []
    assert not ReplayMode.active()
    assert mode.blocked_total == 3
    name = f"{__name__}.place_live_order"
    assert mode.blocked[name] == 2
    assert mode.blocked[f"{__name__}.cancel_live_order"] == 1


def test_the_virtual_clock_is_the_recorded_time_inside_replay() -> None:
    recorded = datetime(2025, 2, 14, 13, 5, tzinfo=UTC)
    live = datetime(2025, 2, 20, 9, 0, tzinfo=UTC)
    set_live_time(live)
    assert now() == live
    with ReplayMode() as mode:
        with pytest.raises(RuntimeError, match="never from the wall clock"):
            now()
        mode.advance(recorded)
        assert now() == recorded
    assert now() == live


def test_replay_mode_is_exported_from_the_package() -> None:
    assert PublicReplayMode is ReplayMode
    assert public_no_replay is no_replay
