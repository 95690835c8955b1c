"""The bot's state and the replay-mode switch: below both `replay` and `pipeline`.

`SystemState` and its reducers are what the log folds into; `ReplayMode`, `@no_replay` and the
virtual clock keep decision code away from the outside world. The reference pipeline and the
replay engine both build on this package, and neither imports the other.
"""

from claire.state.mode import ReplayMode, no_replay, now, set_live_time
from claire.state.model import (
    REDUCERS,
    RISK_LIMIT_HIT,
    SESSION_STARTED,
    OpenOrder,
    Position,
    SystemState,
)

__all__ = [
    "REDUCERS",
    "RISK_LIMIT_HIT",
    "SESSION_STARTED",
    "OpenOrder",
    "Position",
    "ReplayMode",
    "SystemState",
    "no_replay",
    "now",
    "set_live_time",
]
