"""CSV market data: OHLCV bars or ticks, read and checked completely before anything is stored.

Columns are matched by name, case-insensitively; `columns` maps our names (timestamp, open,
high, low, close, price, volume, bid, ask) to the file's headers. Timestamps: ISO-8601 with a
zone, ISO-8601 without one (read as UTC), a date alone (midnight UTC), or Unix epoch seconds.
A malformed row raises MarketDataError naming the file, its line number, column and reason;
so do rows out of time order, and timestamps that appear more than once (all of them listed:
the same input must not be recorded twice).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from claire.errors import ClaireError
from claire.pipeline.bars import Bar

MAX_EPOCH_SECONDS = Decimal(10**11)  # larger numbers are taken as epoch milliseconds
SHOWN_DUPLICATES = 5  # duplicate timestamps named in the message; the rest are counted


class MarketDataError(ClaireError, ValueError):
    """Market data that cannot be read; says where (file, line, column) and why."""


class CsvFormat(StrEnum):
    BARS = "bars"
    TICKS = "ticks"


REQUIRED = {
    CsvFormat.BARS: ("timestamp", "open", "high", "low", "close", "volume"),
    CsvFormat.TICKS: ("timestamp", "price", "volume"),
}
OPTIONAL = ("bid", "ask")


@dataclass(frozen=True, slots=True)
class CsvRows:
    """The bars of a file and, for each, the line it was read from."""

    bars: list[Bar]
    lines: list[int]


def read_csv(
    path: str | Path,
    symbol: str,
    *,
    fmt: CsvFormat | str = CsvFormat.BARS,
    columns: Mapping[str, str] | None = None,
) -> list[Bar]:
    """Every row of the file as a Bar, in file order; the first bad row raises."""
    return read_csv_rows(path, symbol, fmt=fmt, columns=columns).bars


def read_csv_rows(
    path: str | Path,
    symbol: str,
    *,
    fmt: CsvFormat | str = CsvFormat.BARS,
    columns: Mapping[str, str] | None = None,
) -> CsvRows:
    """`read_csv` with the line number of each bar."""
    file = Path(path)
    kind = _format(fmt)
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            return _read_rows(csv.reader(handle), file, symbol, kind, columns or {})
    except OSError as exc:
        raise MarketDataError(f"cannot read market data file {file}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise MarketDataError(f"{file}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise MarketDataError(f"{file}: not valid CSV ({exc})") from None


def _format(fmt: CsvFormat | str) -> CsvFormat:
    try:
        return CsvFormat(fmt)
    except ValueError:
        raise MarketDataError(f"format {fmt!r}: choose 'bars' or 'ticks'") from None


def _read_rows(
    reader: Any, file: Path, symbol: str, kind: CsvFormat, columns: Mapping[str, str]
) -> CsvRows:
    header = next(reader, None)
    if header is None:
        raise MarketDataError(f"{file}: the file is empty (expected a header row)")
    positions = _column_positions(header, file, kind, columns)
    bars: list[Bar] = []
    lines: list[int] = []
    previous: datetime | None = None
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines carry nothing
        where = f"{file} line {reader.line_num}"
        if len(row) != len(header):
            raise MarketDataError(f"{where}: expected {len(header)} columns, found {len(row)}")
        bar = _row_to_bar(row, positions, symbol, kind, where)
        if previous is not None and bar.time < previous:
            raise MarketDataError(
                f"{where}: timestamp {bar.time.isoformat()} is earlier than the previous row's "
                f"{previous.isoformat()} (rows must be in time order)"
            )
        previous = bar.time
        bars.append(bar)
        lines.append(reader.line_num)
    if not bars:
        raise MarketDataError(f"{file}: no data rows after the header")
    _refuse_duplicates(file, bars, lines)
    return CsvRows(bars, lines)


def _refuse_duplicates(file: Path, bars: list[Bar], lines: list[int]) -> None:
    """Rows are in time order, so rows sharing a timestamp are neighbours."""
    groups: list[tuple[datetime, list[int]]] = []
    for index in range(1, len(bars)):
        if bars[index].time != bars[index - 1].time:
            continue
        if groups and groups[-1][0] == bars[index].time:
            groups[-1][1].append(lines[index])
        else:
            groups.append((bars[index].time, [lines[index - 1], lines[index]]))
    if not groups:
        return
    shown = "; ".join(
        f"{time.isoformat()} at lines {', '.join(map(str, where))}"
        for time, where in groups[:SHOWN_DUPLICATES]
    )
    more = len(groups) - SHOWN_DUPLICATES
    raise MarketDataError(
        f"{file}: {len(groups)} timestamp(s) appear more than once (each row must have its own "
        f"time; nothing was stored): {shown}" + (f"; and {more} more" if more > 0 else "")
    )


def _column_positions(
    header: list[str], file: Path, kind: CsvFormat, columns: Mapping[str, str]
) -> dict[str, int]:
    known = set(REQUIRED[kind]) | set(OPTIONAL)
    unknown = sorted(set(columns) - known)
    if unknown:
        raise MarketDataError(
            f"column mapping names {unknown}, which a {kind.value} file does not use "
            f"(use: {', '.join(sorted(known))})"
        )
    index = {name.strip().lower(): i for i, name in enumerate(header)}
    positions: dict[str, int] = {}
    for name in (*REQUIRED[kind], *OPTIONAL):
        wanted = columns.get(name, name).strip().lower()
        if wanted in index:
            positions[name] = index[wanted]
        elif name in REQUIRED[kind]:
            raise MarketDataError(
                f"{file} line 1: no column {wanted!r} for {name} "
                f"(header: {', '.join(header)}); map it with --column {name}=HEADER"
            )
    return positions


def _row_to_bar(
    row: list[str], positions: dict[str, int], symbol: str, kind: CsvFormat, where: str
) -> Bar:
    def cell(name: str) -> str:
        return row[positions[name]].strip()

    def number(name: str, *, positive: bool) -> Decimal:
        return _number(cell(name), name, where, positive=positive)

    def optional(name: str) -> Decimal | None:
        if name not in positions or not cell(name):
            return None
        return number(name, positive=True)

    time = parse_timestamp(cell("timestamp"), where)
    volume = number("volume", positive=False)
    bid, ask = optional("bid"), optional("ask")
    if bid is not None and ask is not None and bid > ask:
        raise MarketDataError(f"{where}: bid {bid} is above ask {ask}")
    if kind is CsvFormat.TICKS:
        return Bar(symbol, time, number("price", positive=True), volume, bid=bid, ask=ask)
    open_, high = number("open", positive=True), number("high", positive=True)
    low, close = number("low", positive=True), number("close", positive=True)
    if low > high:
        raise MarketDataError(f"{where}: low {low} is above high {high}")
    for name, value in (("open", open_), ("close", close)):
        if not low <= value <= high:
            raise MarketDataError(f"{where}: {name} {value} is outside low..high {low}..{high}")
    return Bar(symbol, time, close, volume, open=open_, high=high, low=low, bid=bid, ask=ask)


def _number(text: str, name: str, where: str, *, positive: bool) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MarketDataError(f"{where}: column {name}: {text!r} is not a number") from None
    if not value.is_finite():
        raise MarketDataError(f"{where}: column {name}: {text!r} is not a finite number")
    if value < 0 or (positive and value == 0):
        rule = "positive" if positive else "zero or more"
        raise MarketDataError(f"{where}: column {name}: {text} must be {rule}")
    return value


def parse_timestamp(text: str, where: str = "timestamp") -> datetime:
    """ISO-8601 (zone-less = UTC), a date (midnight UTC), or epoch seconds/milliseconds."""
    if not text:
        raise MarketDataError(f"{where}: column timestamp: empty")
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        return _parse_iso(text, where)
    if not seconds.is_finite() or seconds < 0:
        raise MarketDataError(f"{where}: column timestamp: {text!r} is not a valid epoch time")
    if seconds >= MAX_EPOCH_SECONDS:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(int(seconds), UTC).replace(
            microsecond=int((seconds % 1) * 1_000_000)
        )
    except (OverflowError, OSError, ValueError):
        raise MarketDataError(f"{where}: column timestamp: {text!r} is out of range") from None


def _parse_iso(text: str, where: str) -> datetime:
    cleaned = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        if len(cleaned) == 10:
            day = date.fromisoformat(cleaned)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise MarketDataError(
            f"{where}: column timestamp: {text!r} is not an ISO-8601 date or time"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise MarketDataError(
            f"{where}: column timestamp: {text!r} is out of range in UTC (years 1-9999)"
        ) from None
