"""A seeded synthetic market: several symbols, volatility regimes, trends, spreads and volumes.

Only integers from a seeded Mersenne Twister and Decimal arithmetic are used (no float, no
libm), so a seed gives the same bars on every machine. Each symbol has its own generator
seeded by text (`"<seed>:<symbol>"`), so adding a symbol does not change the others' paths.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from claire.pipeline.bars import Bar

SOURCE = "synthetic"
BPS = Decimal(10000)
# Noise: the sum of four uniform 11-bit integers, centred; roughly normal with this deviation
# (each term is uniform on -1023.5..1023.5 in steps of 1, scaled by 2: sd 2048/sqrt(3) x 2).
_NOISE_TERMS = 4
_NOISE_BITS = 11
_NOISE_SD = Decimal(2365)
_WICK_SCALE = Decimal(100) * BPS
_HALF_SPREAD_SCALE = BPS * 2


def _noise(bits: int) -> int:
    """Integers only, so every platform draws the same path."""
    mask = (1 << _NOISE_BITS) - 1
    total = 0
    for term in range(_NOISE_TERMS):
        total += 2 * ((bits >> (term * _NOISE_BITS)) & mask) - mask
    return total


@dataclass(frozen=True, slots=True)
class Regime:
    name: str
    volatility_bps: Decimal  # standard deviation of one bar's return
    drift_bps: Decimal  # trend per bar (its sign is drawn when the regime starts)
    volume_multiple: Decimal
    spread_multiple: Decimal
    mean_bars: int  # expected duration


REGIMES: tuple[Regime, ...] = (
    Regime("calm", Decimal(3), Decimal(0), Decimal("0.7"), Decimal(1), 400),
    Regime("normal", Decimal(6), Decimal(0), Decimal(1), Decimal("1.2"), 300),
    Regime("trending", Decimal(6), Decimal("1.5"), Decimal("1.6"), Decimal("1.2"), 120),
    Regime("volatile", Decimal(16), Decimal(0), Decimal("2.5"), Decimal(3), 80),
)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    start_price: Decimal
    tick: Decimal  # price increment
    base_volume: Decimal  # typical volume of one bar
    volume_step: Decimal
    spread_bps: Decimal


DEMO_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        "BTCUSDT", Decimal("50000.00"), Decimal("0.01"), Decimal(4), Decimal("0.0001"), Decimal(1)
    ),
    SymbolSpec(
        "ETHUSDT", Decimal("2700.00"), Decimal("0.01"), Decimal(60), Decimal("0.001"), Decimal(2)
    ),
    SymbolSpec(
        "SOLUSDT", Decimal("190.000"), Decimal("0.001"), Decimal(900), Decimal("0.01"), Decimal(3)
    ),
)


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    """`bars_per_symbol` bars of `interval` for each symbol, interleaved in time order."""

    seed: int
    start: datetime
    bars_per_symbol: int
    interval: timedelta = timedelta(seconds=10)
    symbols: Sequence[SymbolSpec] = DEMO_SYMBOLS

    @property
    def total_bars(self) -> int:
        return self.bars_per_symbol * len(self.symbols)

    def with_start_prices(self, prices: dict[str, Decimal]) -> SyntheticMarket:
        """Continue from known prices (a second session starts where the first ended)."""
        specs = tuple(
            replace(s, start_price=prices[s.symbol].quantize(s.tick)) if s.symbol in prices else s
            for s in self.symbols
        )
        return replace(self, symbols=specs)

    def bars(self) -> Iterator[Bar]:
        walkers = [
            _Walker(spec, random.Random(f"{self.seed}:{spec.symbol}")) for spec in self.symbols
        ]
        for index in range(self.bars_per_symbol):
            when = self.start + self.interval * index
            for walker in walkers:
                yield walker.step(when)


class _Walker:
    """One symbol's price path: a regime-switching random walk with drift."""

    def __init__(self, spec: SymbolSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.price = spec.start_price
        self.regime = REGIMES[1]
        self.drift = Decimal(0)
        self.minimum = spec.tick * 100

    def step(self, when: datetime) -> Bar:
        self._maybe_switch_regime()
        spec, regime = self.spec, self.regime
        bits = self.rng.getrandbits(64)
        noise = _noise(bits)
        ret = (Decimal(noise) / _NOISE_SD * regime.volatility_bps + self.drift) / BPS
        open_ = self.price
        close = max((open_ * (1 + ret)).quantize(spec.tick), self.minimum)
        wick_pct = Decimal((bits >> 44) & 0x3F)  # 0..63 hundredths of the regime's volatility
        wick = regime.volatility_bps * wick_pct / _WICK_SCALE
        high = (max(open_, close) * (1 + wick)).quantize(spec.tick)
        low = max((min(open_, close) * (1 - wick)).quantize(spec.tick), self.minimum)
        # Volume rises with the size of the move, so strong moves come with strong volume.
        surprise = Decimal(abs(noise)) / _NOISE_SD
        jitter = Decimal(50 + ((bits >> 50) & 0x7F) % 101) / 100  # 0.50 .. 1.50
        volume = spec.base_volume * regime.volume_multiple * (1 + surprise) * jitter
        volume = volume.quantize(spec.volume_step, rounding=ROUND_DOWN)
        half_spread = max(
            (close * spec.spread_bps * regime.spread_multiple / _HALF_SPREAD_SCALE).quantize(
                spec.tick
            ),
            spec.tick,
        )
        self.price = close
        return Bar(
            symbol=spec.symbol,
            time=when,
            price=close,
            volume=volume,
            open=open_,
            high=high,
            low=low,
            bid=max(close - half_spread, self.minimum),
            ask=close + half_spread,
        )

    def _maybe_switch_regime(self) -> None:
        if self.rng.randrange(self.regime.mean_bars) != 0:
            return
        self.regime = REGIMES[self.rng.randrange(len(REGIMES))]
        sign = 1 if self.rng.randrange(2) else -1
        self.drift = self.regime.drift_bps * sign
