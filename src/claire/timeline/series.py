"""A symbol's price series for a chart, downsampled without losing its highs and lows.

Points are buckets of consecutive market_data events of the symbol: open of the first, close
(the price) of the last, the highest high and lowest low inside, the summed volume. Without
downsampling each event is its own point. Prices stay the stored decimal text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from claire.events.values import decimal_to_str, format_utc
from claire.store.port import BarRow, EventStore
from claire.timeline.moment import require_symbol, sequence_range
from claire.timeline.when import iso

DEFAULT_MAX_POINTS = 2000


def _point(rows: list[BarRow]) -> dict[str, Any]:
    first, last = rows[0], rows[-1]
    if len(rows) == 1:
        high, low, volume = first.high or first.price, first.low or first.price, first.volume
    else:
        # Compare as Decimals but keep the winning row's own text (its scale, as stored).
        high = max((r.high or r.price for r in rows), key=Decimal)
        low = min((r.low or r.price for r in rows), key=Decimal)
        volume = decimal_to_str(sum((Decimal(r.volume) for r in rows), Decimal(0)))
    return {
        "time": format_utc(first.timestamp_utc),
        "open": first.open or first.price,
        "high": high,
        "low": low,
        "close": last.price,
        "volume": volume,
        "first_sequence": first.sequence_number,
        "last_sequence": last.sequence_number,
    }


def downsample(rows: list[BarRow], max_points: int) -> list[dict[str, Any]]:
    """At most `max_points` points, each a bucket of equally many consecutive rows."""
    if max_points < 1:
        raise ValueError(f"max_points must be 1 or more, got {max_points}")
    size = -(-len(rows) // max_points)  # ceiling division
    return [_point(rows[i : i + size]) for i in range(0, len(rows), max(size, 1))]


def series(
    store: EventStore,
    symbol: str,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """The document of `GET /series/{symbol}` (start inclusive, end exclusive)."""
    require_symbol(store, symbol)
    bounds = sequence_range(store, start, end)
    rows = store.bars(symbol, *bounds) if bounds else []
    points = downsample(rows, max_points)
    return {
        "symbol": symbol,
        "from": iso(start),
        "to": iso(end),
        "max_points": max_points,
        "source_points": len(rows),
        "downsampled": len(points) < len(rows),
        "points": points,
    }
