"""Parsing of the ranges and ids commands take: `--sequence A B`, `--from/--to`, UUIDs.

Every parser returns a typed value or raises UsageError naming the option and the reason,
so a command shows one clear line and exits with code 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID

import typer

from claire.cli.common import UsageError
from claire.events.values import format_utc, shifted
from claire.timeline.when import TimeFormatError, parse_time

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ONE_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)

SequenceOption = Annotated[
    tuple[int, int] | None,
    typer.Option(
        "--sequence",
        metavar="A B",
        help="Sequence range, both ends inclusive, e.g. --sequence 1 1000.",
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="DATE",
        help="Start (inclusive): a UTC date 2025-02-10 or datetime 2025-02-10T13:05:00.",
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="DATE",
        help="End (inclusive): a date includes that whole day; a datetime includes that instant.",
    ),
]


@dataclass(frozen=True, slots=True)
class SequenceRange:
    """Sequence numbers first..last, both inclusive."""

    first: int
    last: int

    def to_document(self) -> dict[str, int]:
        return {"from_sequence": self.first, "to_sequence": self.last}


@dataclass(frozen=True, slots=True)
class TimeRange:
    """start <= timestamp_utc < end (either side open when None), both UTC-aware."""

    start: datetime | None
    end: datetime | None

    def to_document(self) -> dict[str, str | None]:
        return {
            "from": format_utc(self.start) if self.start else None,
            "until": format_utc(self.end) if self.end else None,
        }


def parse_sequence_range(
    values: tuple[int, int] | list[int] | None, option: str = "--sequence"
) -> SequenceRange | None:
    """`--sequence A B` -> SequenceRange(A, B); None when the option was not given."""
    if values is None:
        return None
    if len(values) != 2:
        raise UsageError(f"{option}: expected two sequence numbers A B, got {len(values)}")
    first, last = int(values[0]), int(values[1])
    if first < 1:
        raise UsageError(f"{option}: sequence numbers start at 1, got {first}")
    if first > last:
        raise UsageError(f"{option}: empty range, A ({first}) is greater than B ({last})")
    return SequenceRange(first, last)


def parse_instant(text: str, option: str) -> datetime:
    """A date or datetime (see claire.timeline.when) as a UTC start bound; naive times are UTC.
    A date is its midnight."""
    value = text.strip()
    if _DATE_ONLY.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise UsageError(f"{option}: {text!r} is not a valid date ({exc})") from None
        return datetime.combine(day, time(0), tzinfo=UTC)
    try:
        return parse_time(value, option)
    except TimeFormatError as exc:
        raise UsageError(str(exc)) from None


def parse_end(text: str, option: str) -> datetime | None:
    """An inclusive end as an exclusive UTC bound covering what was named: a date its whole
    day (next midnight), a datetime that instant (plus one microsecond). None (open) when that
    lies beyond the last representable instant, e.g. `--to 9999-12-31`."""
    moment = parse_instant(text, option)
    return shifted(moment, _ONE_DAY if _DATE_ONLY.match(text.strip()) else _ONE_MICROSECOND)


def parse_time_range(
    start_text: str | None,
    end_text: str | None,
    *,
    start_option: str = "--from",
    end_option: str = "--to",
    require: bool = False,
) -> TimeRange | None:
    """`--from X --to Y` -> TimeRange; None when neither was given (unless `require`)."""
    if start_text is None and end_text is None:
        if require:
            raise UsageError(f"give {start_option} and/or {end_option}")
        return None
    start = parse_instant(start_text, start_option) if start_text is not None else None
    end = parse_end(end_text, end_option) if end_text is not None else None
    if start is not None and end is not None and start >= end:
        raise UsageError(
            f"empty range: {start_option} {start_text} is after {end_option} {end_text}"
        )
    return TimeRange(start, end)


def parse_uuid(text: str, what: str = "id") -> UUID:
    """A UUID argument, or UsageError naming it."""
    try:
        return UUID(text.strip())
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is not a UUID (e.g. 123e4567-e89b-12d3-a456-426614174000)"
        ) from None
