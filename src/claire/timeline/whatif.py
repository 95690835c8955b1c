"""What-if for the chart: `claire replay --set` (claire.replay.whatif) plus what to draw.

Nothing is stored. Besides the what-if report, both sides get an equity curve over the same
sequence slices and their trades: the recorded side from the log, the what-if side from what
the what-if pipeline decided (observed as it runs, never kept beyond the chart's points).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from claire.audit.vouch import vouch_named
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.replay.engine import ReplayEngine
from claire.replay.reexecute import DecisionPipeline
from claire.replay.whatif import what_if
from claire.state.model import SystemState
from claire.store.port import EventStore
from claire.timeline.equity import EquityCurve, recorded_curve
from claire.timeline.series import DEFAULT_MAX_POINTS


def trades(updates: Iterable[BaseEvent]) -> list[dict[str, Any]]:
    """One entry per trade (correlation id) from its position updates, in order of entry."""
    found: dict[str, dict[str, Any]] = {}
    for update in updates:
        if update.event_type is not EventType.POSITION_UPDATE:
            continue
        p = update.payload
        trade = found.setdefault(
            str(update.correlation_id),
            {
                "correlation_id": str(update.correlation_id),
                "symbol": p["symbol"],
                "side": p["side"],
                "entry_price": p["entry_price"],
                "entry_time": format_utc(update.timestamp_utc),
                "exit_time": None,
                "pnl": None,
            },
        )
        if p["status"] == "CLOSED":
            trade["exit_time"] = format_utc(update.timestamp_utc)
            trade["pnl"] = p.get("realized_pnl", "0")
    return list(found.values())


class _Watcher:
    """Wraps the what-if pipeline: its position updates, and its equity after each input."""

    def __init__(self, curve: EquityCurve) -> None:
        self.curve = curve
        self.updates: list[BaseEvent] = []

    def wrap(self, pipeline: DecisionPipeline) -> DecisionPipeline:
        watcher = self

        class Watched:
            def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
                produced = pipeline.process(state, event)
                watcher.updates.extend(
                    e for e in produced if e.event_type is EventType.POSITION_UPDATE
                )
                watcher.curve.observe(state, event.sequence_number or 0, event.timestamp_utc)
                return produced

        return Watched()


def what_if_chart(
    store: EventStore,
    overrides: Mapping[str, str],
    first: int = 1,
    last: int | None = None,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """The document of `POST /whatif`: the what-if report and both sides' chart data."""
    first, last = ReplayEngine(store).resolve_sequence_range(first, last)
    watcher = _Watcher(EquityCurve(first, last, max_points))
    watcher.curve.begin(ReplayEngine(store).state_at(first - 1).state)
    report = what_if(store, first, last, overrides, observe=watcher.wrap)
    recorded_updates = store.find_events(
        event_types=[EventType.POSITION_UPDATE], from_sequence=first, to_sequence=last
    )
    summary = report.to_document()
    vouch_named(store, summary)  # as `claire replay --set --json` marks the events it names
    return {
        "summary": summary,
        "recorded": {
            "equity": recorded_curve(store, first, last, max_points).to_document(),
            "trades": trades(recorded_updates),
        },
        "whatif": {"equity": watcher.curve.to_document(), "trades": trades(watcher.updates)},
        "first_changed_decision": summary["first_change"],
        "stored": False,
    }


__all__ = ["trades", "what_if_chart"]
