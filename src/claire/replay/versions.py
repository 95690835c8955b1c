"""diff-versions: the same recorded inputs through two pipeline versions, decisions compared.

The tool a developer runs before deploying a strategy change: both pipelines start from the
state the log records at A-1 and decide on every recorded input of A..B, each on its own state
(the recorded decisions are skipped), each part of the range with the configuration its session
recorded, read by each version itself. The report says which decisions differ, which trades
appear or disappear, and the difference in equity. Nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claire.replay.compare import Divergence
from claire.replay.engine import ProgressCallback, ReplayEngine, SnapshotUsed
from claire.replay.parts import plan
from claire.replay.pipelines import PipelineRegistry, Registered, prepare_part
from claire.replay.reexecute import ReexecutionResult, combine, reexecute
from claire.replay.whatif import Outcome, offset_progress
from claire.store.port import DEFAULT_BATCH_SIZE, EventStore

# Who produced a decision differs between versions by construction: not a difference.
PRODUCER_FIELDS = (
    "metadata.service",
    "metadata.version",
    "metadata.code_version",
    "metadata.config_hash",
)
KEEP = 1000  # differing decisions listed in the report (all are counted)


@dataclass(slots=True)
class VersionDiffReport:
    first_sequence: int
    last_sequence: int
    old: Registered
    new: Registered
    parts: list[dict[str, Any]]
    snapshot: SnapshotUsed | None
    result: ReexecutionResult  # "recorded" is the old version's side, "replayed" the new's
    elapsed_seconds: float

    @property
    def differences(self) -> list[Divergence]:
        return self.result.divergences

    @property
    def old_outcome(self) -> Outcome:
        assert self.result.recorded_state is not None
        return Outcome.of(self.result.recorded_state)

    @property
    def new_outcome(self) -> Outcome:
        return Outcome.of(self.result.replayed_state)

    @property
    def trades_appeared(self) -> list[str]:
        return [t for t in self.result.trades_replayed if t not in self.result.trades_recorded]

    @property
    def trades_disappeared(self) -> list[str]:
        return [t for t in self.result.trades_recorded if t not in self.result.trades_replayed]

    @property
    def pnl_difference(self) -> Decimal:
        """New minus old, realised equity."""
        return self.new_outcome.equity - self.old_outcome.equity

    def to_document(self) -> dict[str, Any]:
        result = self.result
        return {
            "range": {"from_sequence": self.first_sequence, "to_sequence": self.last_sequence},
            "old": _pipeline_document(self.old),
            "new": _pipeline_document(self.new),
            "parts": self.parts,
            "snapshot_used": self.snapshot.to_document() if self.snapshot else None,
            "inputs": result.inputs,
            "decisions_old": result.decisions_recorded,
            "decisions_new": result.decisions_replayed,
            "decisions_identical": result.decisions_matched,
            "decisions_differ": result.decisions_changed,
            "trades_old": len(result.trades_recorded),
            "trades_new": len(result.trades_replayed),
            "trades_appeared": self.trades_appeared,
            "trades_disappeared": self.trades_disappeared,
            "old_outcome": self.old_outcome.to_document(),
            "new_outcome": self.new_outcome.to_document(),
            "pnl_difference": str(self.pnl_difference),
            "differences": [d.to_document() for d in self.differences],
            "differences_listed": len(self.differences),
            "blocked_calls": dict(sorted(result.blocked_calls.items())),
            "elapsed_seconds": round(self.elapsed_seconds, 6),
            "stored": False,
        }


def _pipeline_document(registered: Registered) -> dict[str, Any]:
    return {"pipeline": registered.name, "code_versions": list(registered.provider.code_versions)}


def diff_versions(
    store: EventStore,
    first: int,
    last: int | None,
    old: str,
    new: str,
    *,
    registry: PipelineRegistry | None = None,
    use_snapshots: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> VersionDiffReport:
    """Re-execute first..last with `old` and with `new` (--pipeline specs) and compare."""
    registry = registry or PipelineRegistry.from_entry_points()
    before, after = registry.resolve(old), registry.resolve(new)
    engine = ReplayEngine(store, use_snapshots=use_snapshots, batch_size=batch_size)
    first, last = engine.resolve_sequence_range(first, last)
    pairs = [
        (prepare_part(p, before, None), prepare_part(p, after, None))
        for p in plan(store, first, last)
    ]
    start = engine.state_at(first - 1)
    new_state, old_state = start.state, start.state.copy()
    results: list[ReexecutionResult] = []
    listed = 0
    for old_part, new_part in pairs:
        part = new_part.part
        assert old_part.pipeline is not None and new_part.pipeline is not None
        result = reexecute(
            store,
            new_part.pipeline,
            part.first,
            part.last,
            new_state,
            baseline=old_part.pipeline,
            recorded_state=old_state,
            ignore_fields=PRODUCER_FIELDS,
            keep=KEEP - listed,
            batch_size=batch_size,
            progress=offset_progress(progress, part.first - first, last - first + 1),
        )
        results.append(result)
        listed += len(result.divergences)
        new_state = result.replayed_state
        old_state = result.recorded_state or old_state
    total = combine(results)
    parts = [
        {
            "from_sequence": o.part.first,
            "to_sequence": o.part.last,
            "config_source": o.part.config_source,
            "old_config_hash": o.config_hash,
            "new_config_hash": n.config_hash,
        }
        for o, n in pairs
    ]
    elapsed = start.elapsed_seconds + total.elapsed_seconds
    return VersionDiffReport(first, last, before, after, parts, start.snapshot, total, elapsed)


__all__ = ["KEEP", "PRODUCER_FIELDS", "VersionDiffReport", "diff_versions"]
