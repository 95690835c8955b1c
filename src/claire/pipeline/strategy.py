"""Signal engine: the momentum-and-volume strategy.

Rule, on every bar of a symbol with no open position:

1. momentum = price now / price `lookback` bars ago - 1;
2. volume ratio = this bar's volume / the mean volume of the `lookback` bars before it;
3. a signal fires when |momentum| >= `momentum_threshold` and the volume ratio >=
   `volume_factor`, at most once every `cooldown_bars` bars per symbol: BUY on positive
   momentum, SELL on negative;
4. confidence = base_confidence
   + confidence_per_strength x (|momentum| / threshold - 1)
   + confidence_per_volume x (volume ratio / volume_factor - 1), capped at 0.99.

A weak signal is still emitted (the risk manager's minimum confidence decides), so the log
shows what the strategy saw as well as what risk allowed. Pure: reads only the state and the
bar, Decimal only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

from claire.events.payloads import Side
from claire.events.values import decimal_to_str
from claire.pipeline.bars import Bar
from claire.pipeline.config import StrategyConfig
from claire.state.model import SystemState

STRATEGY_NAME = "momentum_volume"
MAX_CONFIDENCE = Decimal("0.99")
RATIO_QUANTUM = Decimal("0.000001")
CONFIDENCE_QUANTUM = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SignalIdea:
    side: Side
    confidence: Decimal
    reason: str
    momentum: Decimal
    volume_ratio: Decimal

    def strategy_params(self, config: StrategyConfig) -> dict[str, Any]:
        """What the signal was computed from: the parameters and the measured values."""
        return {
            "strategy": STRATEGY_NAME,
            "lookback": config.lookback,
            "momentum_threshold": decimal_to_str(config.momentum_threshold),
            "volume_factor": decimal_to_str(config.volume_factor),
            "cooldown_bars": config.cooldown_bars,
            "momentum": decimal_to_str(self.momentum),
            "volume_ratio": decimal_to_str(self.volume_ratio),
        }


def evaluate(state: SystemState, bar: Bar, config: StrategyConfig) -> SignalIdea | None:
    """The signal this bar gives, or None. `state` already includes the bar."""
    symbol = bar.symbol
    if symbol in state.positions or _cooling_down(state, symbol, config):
        return None
    history = state.history.get(symbol)
    if history is None or len(history) < config.lookback + 1:
        return None
    # Deque indexing near either end is cheap; the window is only copied when momentum fires.
    now_price, now_volume = history[-1]
    then_price = history[-config.lookback - 1][0]
    momentum = (now_price / then_price - 1).quantize(RATIO_QUANTUM)
    if abs(momentum) < config.momentum_threshold:
        return None
    previous = islice(history, len(history) - config.lookback - 1, len(history) - 1)
    average_volume = sum((v for _, v in previous), Decimal(0)) / config.lookback
    if average_volume <= 0:
        return None
    volume_ratio = (now_volume / average_volume).quantize(RATIO_QUANTUM)
    if volume_ratio < config.volume_factor:
        return None
    side = Side.BUY if momentum > 0 else Side.SELL
    confidence = _confidence(momentum, volume_ratio, config)
    reason = (
        f"{'Positive' if side is Side.BUY else 'Negative'} momentum "
        f"{momentum * 100:+.3f}% over {config.lookback} bars "
        f"(threshold {config.momentum_threshold * 100:.3f}%) with volume "
        f"{volume_ratio:.2f}x average (factor {config.volume_factor})"
    )
    return SignalIdea(side, confidence, reason, momentum, volume_ratio)


def _cooling_down(state: SystemState, symbol: str, config: StrategyConfig) -> bool:
    last = state.last_signal_bar.get(symbol)
    return last is not None and state.bars_seen.get(symbol, 0) - last < config.cooldown_bars


def _confidence(momentum: Decimal, volume_ratio: Decimal, config: StrategyConfig) -> Decimal:
    strength = abs(momentum) / config.momentum_threshold - 1
    surge = volume_ratio / config.volume_factor - 1
    raw = (
        config.base_confidence
        + config.confidence_per_strength * strength
        + config.confidence_per_volume * surge
    )
    return min(max(raw, Decimal(0)), MAX_CONFIDENCE).quantize(CONFIDENCE_QUANTUM)
