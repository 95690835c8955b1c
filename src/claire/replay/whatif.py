"""What-if replay: re-run the decisions of a range with changed parameters, store nothing.

The pipeline runs on the recorded inputs from the state at A-1; each session's part of the range
runs with the configuration that session recorded plus the overrides, and the what-if state
carries on from one part to the next. Its decisions are compared with the recorded ones. The
report says how many decisions changed, which trades (correlation ids of order requests)
appear or disappear, the difference in final equity, and the first changed decision in the
validation diff format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claire.replay.engine import ProgressCallback, ReplayEngine, SnapshotUsed
from claire.replay.pipelines import PipelineRegistry, prepare
from claire.replay.reexecute import DecisionPipeline, Divergence, combine, reexecute
from claire.replay.validate import CONFIG_HASH_FIELD
from claire.state.model import SystemState
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore


@dataclass(frozen=True, slots=True)
class Outcome:
    """The account at the end of the range: realised equity and mark-to-market equity."""

    equity: Decimal
    unrealized_pnl: Decimal
    open_positions: int

    @property
    def total(self) -> Decimal:
        return self.equity + self.unrealized_pnl

    @classmethod
    def of(cls, state: SystemState) -> Outcome:
        return cls(state.equity, state.unrealized_pnl, len(state.positions))

    def to_document(self) -> dict[str, Any]:
        return {
            "equity": str(self.equity),
            "unrealized_pnl": str(self.unrealized_pnl),
            "total": str(self.total),
            "open_positions": self.open_positions,
        }


@dataclass(slots=True)
class WhatIfReport:
    first_sequence: int
    last_sequence: int
    overrides: dict[str, str]
    pipeline: str
    config_source: str
    recorded_config_hash: str | None
    whatif_config_hash: str
    parts: list[dict[str, Any]]
    snapshot: SnapshotUsed | None
    inputs: int
    decisions_recorded: int
    decisions_whatif: int
    decisions_changed: int
    trades_recorded: list[str]
    trades_whatif: list[str]
    recorded: Outcome
    whatif: Outcome
    first_change: Divergence | None
    blocked_calls: dict[str, int]
    elapsed_seconds: float

    @property
    def trades_appeared(self) -> list[str]:
        known = set(self.trades_recorded)
        return [t for t in self.trades_whatif if t not in known]

    @property
    def trades_disappeared(self) -> list[str]:
        kept = set(self.trades_whatif)
        return [t for t in self.trades_recorded if t not in kept]

    @property
    def pnl_difference(self) -> Decimal:
        """What-if minus recorded, realised equity."""
        return self.whatif.equity - self.recorded.equity

    @property
    def total_difference(self) -> Decimal:
        """What-if minus recorded, equity including unrealised PnL."""
        return self.whatif.total - self.recorded.total

    def to_document(self) -> dict[str, Any]:
        return {
            "range": {"from_sequence": self.first_sequence, "to_sequence": self.last_sequence},
            "overrides": self.overrides,
            "pipeline": self.pipeline,
            "config_source": self.config_source,
            "recorded_config_hash": self.recorded_config_hash,
            "whatif_config_hash": self.whatif_config_hash,
            "parts": self.parts,
            "snapshot_used": self.snapshot.to_document() if self.snapshot else None,
            "inputs": self.inputs,
            "decisions_recorded": self.decisions_recorded,
            "decisions_whatif": self.decisions_whatif,
            "decisions_changed": self.decisions_changed,
            "trades_recorded": len(self.trades_recorded),
            "trades_whatif": len(self.trades_whatif),
            "trades_appeared": self.trades_appeared,
            "trades_disappeared": self.trades_disappeared,
            "recorded": self.recorded.to_document(),
            "whatif": self.whatif.to_document(),
            "pnl_difference": str(self.pnl_difference),
            "total_difference": str(self.total_difference),
            "first_change": self.first_change.to_document() if self.first_change else None,
            "blocked_calls": dict(sorted(self.blocked_calls.items())),
            "elapsed_seconds": round(self.elapsed_seconds, 6),
            "stored": False,
        }


def what_if(
    store: EventStore,
    first: int,
    last: int | None,
    overrides: Mapping[str, str],
    *,
    pipeline: str | None = None,
    registry: PipelineRegistry | None = None,
    use_snapshots: bool = True,
    verify_snapshot: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    observe: Callable[[DecisionPipeline], DecisionPipeline] | None = None,
) -> WhatIfReport:
    """Re-run first..last with `overrides` applied to each part's recorded configuration.

    `observe` wraps each part's pipeline (e.g. to chart what the what-if pipeline decides).
    """
    engine = ReplayEngine(
        store, use_snapshots=use_snapshots, verify_snapshot=verify_snapshot, batch_size=batch_size
    )
    first, last = engine.resolve_sequence_range(first, last)
    # Decisions of a code version no pipeline is registered for cannot be asked what-if.
    plan = prepare(store, first, last, pipeline=pipeline, overrides=overrides, registry=registry)
    parts = plan.require_all()
    start = engine.state_at(first - 1)
    replayed, recorded = start.state, start.state.copy()
    results = []
    for prepared in parts:
        part = prepared.part
        done = part.first - first
        assert prepared.pipeline is not None
        results.append(
            reexecute(
                store,
                observe(prepared.pipeline) if observe else prepared.pipeline,
                part.first,
                part.last,
                replayed,
                # A decision's config hash changes by construction: not a change.
                ignore_fields=(CONFIG_HASH_FIELD,),
                recorded_state=recorded,
                batch_size=batch_size,
                progress=offset_progress(progress, done, last - first + 1),
            )
        )
        replayed = results[-1].replayed_state
        recorded = results[-1].recorded_state or recorded
    result = combine(results)
    head = parts[0]
    assert result.recorded_state is not None
    return WhatIfReport(
        first_sequence=first,
        last_sequence=last,
        overrides=dict(overrides),
        pipeline=", ".join(dict.fromkeys(str(p.pipeline_name) for p in parts)),
        config_source=head.part.config_source,
        recorded_config_hash=head.recorded_hash,
        whatif_config_hash=str(head.config_hash),
        parts=[p.to_document() for p in parts],
        snapshot=start.snapshot,
        inputs=result.inputs,
        decisions_recorded=result.decisions_recorded,
        decisions_whatif=result.decisions_replayed,
        decisions_changed=result.decisions_changed,
        trades_recorded=list(result.trades_recorded),
        trades_whatif=list(result.trades_replayed),
        recorded=Outcome.of(result.recorded_state),
        whatif=Outcome.of(result.replayed_state),
        first_change=result.first_divergence,
        blocked_calls=result.blocked_calls,
        elapsed_seconds=start.elapsed_seconds + result.elapsed_seconds,
    )


def offset_progress(
    progress: ProgressCallback | None, offset: int, overall: int
) -> ProgressCallback | None:
    """Progress of one part of a range, counted from `offset` of the whole range's `overall`."""
    if progress is None:
        return None
    return lambda done, _total: progress(offset + done, overall)


__all__ = ["Outcome", "WhatIfReport", "offset_progress", "what_if"]
