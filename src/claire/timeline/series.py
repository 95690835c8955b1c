"""A symbol's price series for a chart, downsampled without losing its highs and lows.

Points are buckets of consecutive market_data events of the symbol (`EventStore.bar_buckets`,
computed in the database where it can): open of the first, close (the price) of the last, the
highest high and lowest low inside, the summed volume. Without downsampling each event is its
own point. Prices stay the stored decimal text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claire.events.values import format_utc
from claire.store.port import BarBucket, EventStore
from claire.timeline.moment import UNKNOWN, Bounds, Unknown, require_symbol, sequence_range
from claire.timeline.when import iso

DEFAULT_MAX_POINTS = 2000


def point(bucket: BarBucket) -> dict[str, Any]:
    return {
        "time": format_utc(bucket.time),
        "open": bucket.open,
        "high": bucket.high,
        "low": bucket.low,
        "close": bucket.close,
        "volume": bucket.volume,
        "first_sequence": bucket.first_sequence,
        "last_sequence": bucket.last_sequence,
    }


def series(
    store: EventStore,
    symbol: str,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    *,
    bounds: Bounds | Unknown = UNKNOWN,
) -> dict[str, Any]:
    """The document of `GET /series/{symbol}` (start inclusive, end exclusive); `bounds`:
    the range's sequences when the caller has them already."""
    if isinstance(bounds, Unknown):
        bounds = sequence_range(store, start, end)
    buckets = store.bar_buckets(symbol, *bounds, buckets=max_points) if bounds else []
    if not buckets:
        require_symbol(store, symbol)
    bars = sum(b.bars for b in buckets)
    return {
        "symbol": symbol,
        "from": iso(start),
        "to": iso(end),
        "max_points": max_points,
        "source_points": bars,
        "downsampled": len(buckets) < bars,
        "points": [point(b) for b in buckets],
    }
