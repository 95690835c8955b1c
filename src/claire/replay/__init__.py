"""Replay: rebuild state from the log, validate determinism, and ask what-if questions.

`ReplayEngine` folds the stored log into a `SystemState` (from the nearest snapshot);
`validate` runs the three determinism checks; `what_if` re-runs decisions with changed
parameters. `ReplayMode` and `@no_replay` keep replay away from the outside world.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claire.replay.diff import FieldDifference, event_diff, state_diff
from claire.replay.engine import ReplayEngine, ReplayResult, SnapshotUsed
from claire.state.mode import ReplayMode, no_replay, now, set_live_time
from claire.state.model import SystemState

if TYPE_CHECKING:
    from claire.replay.validate import ValidationReport, Validator, validate
    from claire.replay.whatif import WhatIfReport, what_if

# validate and what-if load a decision pipeline (the reference one by default): import them on
# first use so `import claire.replay` stays cheap for readers that only fold.
_LAZY = {
    "ValidationReport": "claire.replay.validate",
    "Validator": "claire.replay.validate",
    "validate": "claire.replay.validate",
    "WhatIfReport": "claire.replay.whatif",
    "what_if": "claire.replay.whatif",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'claire.replay' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "FieldDifference",
    "ReplayEngine",
    "ReplayMode",
    "ReplayResult",
    "SnapshotUsed",
    "SystemState",
    "ValidationReport",
    "Validator",
    "WhatIfReport",
    "event_diff",
    "no_replay",
    "now",
    "set_live_time",
    "state_diff",
    "validate",
    "what_if",
]
