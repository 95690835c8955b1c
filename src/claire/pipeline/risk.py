"""Risk manager: sizes every signal, places its stop, runs every check, and decides exits.

Entry sizing: the stop sits `stop_pct` away from the price, where stop_pct is the larger of
`stop_loss_min_pct` and `stop_loss_volatility_multiple` x the mean absolute bar return over the
strategy's lookback; size = equity x risk_per_trade_pct / (price x stop_pct), so a stopped-out
trade loses about `risk_per_trade_pct` of equity. Then every limit is checked and reported
(checked, passed, current_value, limit); a rejection names each failed limit and its value.

Exits: an open position is closed when a bar crosses its stop-loss or its take-profit
(entry +/- take_profit_ratio x stop distance); the stop wins if a bar crosses both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from itertools import islice, pairwise

from claire.events.payloads import RiskCheckResult, Side
from claire.pipeline.bars import Bar
from claire.pipeline.config import PipelineConfig
from claire.state.model import Position, SystemState

RATIO_QUANTUM = Decimal("0.000001")
MAX_STOP_PCT = Decimal("0.5")
ALL_PASSED = "All risk checks passed"
# Limits that describe the account rather than one trade: hitting one raises an alert.
ACCOUNT_LIMITS = ("daily_drawdown", "max_exposure", "max_open_positions")


@dataclass(frozen=True, slots=True)
class EntryAssessment:
    approved: bool
    reason: str
    size: Decimal
    stop_loss_price: Decimal
    checks: dict[str, RiskCheckResult]

    @property
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.passed]


@dataclass(frozen=True, slots=True)
class ExitPlan:
    kind: str  # "stop_loss" or "take_profit"
    reason: str
    reference_price: Decimal  # the price the closing market order starts from
    checks: dict[str, RiskCheckResult]


def price_quantum(price: Decimal) -> Decimal:
    """The price's own increment (190.125 -> 0.001), and at least cents (50000 -> 0.01)."""
    return Decimal(1).scaleb(min(int(price.as_tuple().exponent), -2))


def size_quantum(config: PipelineConfig) -> Decimal:
    return Decimal(1).scaleb(-config.execution.size_decimals)


def stop_pct(state: SystemState, symbol: str, config: PipelineConfig) -> Decimal:
    """Stop distance as a share of price: volatility-scaled, never below the minimum."""
    history = state.history.get(symbol)
    lookback = config.strategy.lookback
    volatility = Decimal(0)
    if history is not None and len(history) > 1:
        count = min(lookback, len(history) - 1)
        prices = [p for p, _ in islice(history, len(history) - count - 1, None)]
        moves = [abs(b / a - 1) for a, b in pairwise(prices)]
        volatility = sum(moves, Decimal(0)) / len(moves)
    scaled = config.risk.stop_loss_volatility_multiple * volatility
    return min(max(config.risk.stop_loss_min_pct, scaled), MAX_STOP_PCT).quantize(RATIO_QUANTUM)


def assess_entry(
    state: SystemState, bar: Bar, side: Side, confidence: Decimal, config: PipelineConfig
) -> EntryAssessment:
    risk = config.risk
    price = bar.price
    distance = price * stop_pct(state, bar.symbol, config)
    stop = (price - distance if side is Side.BUY else price + distance).quantize(
        price_quantum(price)
    )
    equity = state.equity
    size = Decimal(0)
    if equity > 0 and distance > 0:
        raw = equity * risk.risk_per_trade_pct / distance
        size = raw.quantize(size_quantum(config), rounding=ROUND_DOWN)
    notional = size * price
    checks = {
        "min_confidence": _check(
            confidence, risk.min_confidence, confidence >= risk.min_confidence
        ),
        "daily_drawdown": _drawdown_check(state, config),
        "max_open_positions": _check(
            Decimal(len(state.positions) + 1),
            Decimal(risk.max_open_positions),
            len(state.positions) + 1 <= risk.max_open_positions,
        ),
        "max_exposure": _ratio_check(state.exposure + notional, equity, risk.max_exposure_pct),
        "max_position_size": _ratio_check(notional, equity, risk.max_position_pct),
        "min_order_size": _check(size, size_quantum(config), size >= size_quantum(config)),
    }
    failed = [name for name, check in checks.items() if not check.passed]
    reason = (
        ALL_PASSED
        if not failed
        else "Rejected: " + "; ".join(_failure_text(name, checks[name]) for name in failed)
    )
    return EntryAssessment(not failed, reason, size, stop, checks)


def _check(current: Decimal | None, limit: Decimal, passed: bool) -> RiskCheckResult:
    return RiskCheckResult(checked=True, passed=passed, current_value=current, limit=limit)


def _ratio_check(amount: Decimal, equity: Decimal, limit: Decimal) -> RiskCheckResult:
    if equity <= 0:
        return _check(None, limit, False)
    ratio = (amount / equity).quantize(RATIO_QUANTUM)
    return _check(ratio, limit, ratio <= limit)


def _drawdown_check(state: SystemState, config: PipelineConfig) -> RiskCheckResult:
    limit = -config.risk.max_daily_drawdown_pct
    base = state.day_start_equity
    if base <= 0:
        return _check(None, limit, False)
    current = (state.daily_pnl / base).quantize(RATIO_QUANTUM)
    return _check(current, limit, current > limit)


_FAILURE_FORMS = {
    "min_confidence": "min_confidence: confidence {current} is below the minimum {limit}",
    "daily_drawdown": "daily_drawdown: daily PnL {current} of equity is at or below {limit}",
    "max_open_positions": "max_open_positions: {current} positions would exceed {limit}",
    "max_exposure": "max_exposure: exposure {current} of equity would exceed {limit}",
    "max_position_size": "max_position_size: position {current} of equity exceeds {limit}",
    "min_order_size": "min_order_size: size {current} is below the smallest order {limit}",
}


def _failure_text(name: str, check: RiskCheckResult) -> str:
    current = "n/a (no equity)" if check.current_value is None else str(check.current_value)
    return _FAILURE_FORMS[name].format(current=current, limit=check.limit)


def take_profit_price(position: Position, config: PipelineConfig) -> Decimal | None:
    if position.stop_loss_price is None:
        return None
    distance = abs(position.entry_price - position.stop_loss_price)
    reach = distance * config.risk.take_profit_ratio
    target = (
        position.entry_price + reach if position.side is Side.BUY else position.entry_price - reach
    )
    return target.quantize(price_quantum(position.entry_price)) if target > 0 else None


def plan_exit(position: Position, bar: Bar, config: PipelineConfig) -> ExitPlan | None:
    """Close the position if this bar crossed its stop-loss or its take-profit."""
    stop = position.stop_loss_price
    target = take_profit_price(position, config)
    long = position.side is Side.BUY
    # The extreme that threatens the position, and the one that rewards it.
    adverse = bar.low_or_price if long else bar.high_or_price
    favourable = bar.high_or_price if long else bar.low_or_price
    opening = bar.open_or_price
    if stop is not None and (adverse <= stop if long else adverse >= stop):
        # A gap through the stop fills at the open, not at the stop.
        reference = min(stop, opening) if long else max(stop, opening)
        check = RiskCheckResult(checked=True, passed=False, current_value=adverse, limit=stop)
        reason = (
            f"Stop-loss hit: {'low' if long else 'high'} {adverse} crossed stop {stop}; "
            f"closing {position.size} {position.symbol}"
        )
        return ExitPlan("stop_loss", reason, reference, {"stop_loss": check})
    if target is not None and (favourable >= target if long else favourable <= target):
        reference = max(target, opening) if long else min(target, opening)
        check = RiskCheckResult(checked=True, passed=False, current_value=favourable, limit=target)
        reason = (
            f"Take-profit reached: {'high' if long else 'low'} {favourable} crossed target "
            f"{target}; closing {position.size} {position.symbol}"
        )
        return ExitPlan("take_profit", reason, reference, {"take_profit": check})
    return None
