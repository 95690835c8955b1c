"""Bars the store already holds: the same input is not recorded twice by accident.

Recording a file a second time would feed its bars to the pipeline again, on top of the
positions the first recording left open, with another PnL. Before a CSV session is recorded,
the market data already stored for its symbol in the file's time span is compared with the
file's timestamps; any bar stored for the same symbol and time is an overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from claire.events.payloads import EventType
from claire.events.values import format_utc
from claire.pipeline.csv_source import CsvRows
from claire.store.port import EventStore

APPEND_OVERLAP_FLAG = "--append-overlap"


@dataclass(frozen=True, slots=True)
class Overlap:
    """The file's bars whose symbol and time are stored already."""

    symbol: str
    bars: int  # how many of the file's bars
    total: int  # bars in the file
    first_time: datetime
    last_time: datetime
    lines: tuple[int, int]  # file lines of the first and last overlapping bar
    sequences: tuple[int, int]  # where the first and last of them are stored

    def message(self, file: Path) -> str:
        return (
            f"{file.name}: {self.bars} of {self.total} bars for {self.symbol} are already "
            f"stored ({format_utc(self.first_time)} → {format_utc(self.last_time)}, file lines "
            f"{self.lines[0]}..{self.lines[1]}, stored at sequences "
            f"{self.sequences[0]}..{self.sequences[1]}); recording them again would trade on "
            f"them twice. Nothing was stored; pass {APPEND_OVERLAP_FLAG} to record them anyway"
        )


def stored_overlap(store: EventStore, symbol: str, rows: CsvRows) -> Overlap | None:
    """The overlap of the file with the store, or None (reads only the file's time span)."""
    bars = rows.bars
    line_of = {bar.time: line for bar, line in zip(bars, rows.lines, strict=True)}
    end = bars[-1].time + timedelta(microseconds=1)  # the span's end is exclusive
    hits: list[tuple[datetime, int]] = []
    for event in store.read_time_range(bars[0].time, end):
        if (
            event.event_type is EventType.MARKET_DATA
            and event.timestamp_utc in line_of
            and event.payload.get("symbol") == symbol
        ):
            hits.append((event.timestamp_utc, event.sequence_number or 0))
    if not hits:
        return None
    times = sorted({time for time, _ in hits})
    sequences = sorted(sequence for _, sequence in hits)
    return Overlap(
        symbol,
        len(times),
        len(bars),
        times[0],
        times[-1],
        (line_of[times[0]], line_of[times[-1]]),
        (sequences[0], sequences[-1]),
    )


__all__ = ["APPEND_OVERLAP_FLAG", "Overlap", "stored_overlap"]
