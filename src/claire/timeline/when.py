"""The one parser of the times people type, shared by the CLI and the HTTP API.

Accepted: `2025-02-14`, `2025-02-14 13:05`, `2025-02-14T13:05:00`, seconds with up to six
decimals, then optionally `Z`, ` UTC` or an offset (`+02:00`, `+0200`, `-05`). A time without
a zone is UTC, and every answer says so. The result is an aware UTC datetime; anything else is
a `TimeFormatError` whose one-line message names the option or parameter and shows the forms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from claire.errors import ClaireError
from claire.events.values import format_utc

TIMEZONE = "UTC"
FORMS = "e.g. 2025-02-14, 2025-02-14 13:05, 2025-02-14T13:05:00Z or 2025-02-14T13:05:00+02:00"
_PATTERN = re.compile(
    r"""^(?P<date>\d{4}-\d{2}-\d{2})
        (?:[T\ ](?P<hour>\d{2}):(?P<minute>\d{2})
            (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?)?
        \s*(?P<zone>Z|UTC|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE | re.IGNORECASE,
)


class TimeFormatError(ClaireError, ValueError):
    """A time that does not parse; the message names where it came from (`name`)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.reason = message


def parse_time(text: str, name: str = "time") -> datetime:
    """`text` as an aware UTC datetime; naive times are UTC. `name` labels errors."""
    given = text.strip()
    match = _PATTERN.match(given)
    if match is None:
        raise TimeFormatError(name, f"{text!r} is not a date or time ({FORMS})")
    date, zone = match["date"], match["zone"]
    hour, minute = int(match["hour"] or 0), int(match["minute"] or 0)
    second = int(match["second"] or 0)
    micro = int((match["fraction"] or "0").ljust(6, "0"))
    try:
        year, month, day = (int(part) for part in date.split("-"))
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=_zone(zone))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise TimeFormatError(name, f"{text!r} is not a valid time ({exc}; {FORMS})") from None


def _zone(text: str | None) -> timezone:
    if text is None or text.upper() in ("Z", "UTC"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text} is out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def human(moment: datetime) -> str:
    """A UTC time for people, saying it is UTC: `2025-02-14 13:05:00 UTC` (microseconds only
    when there are any)."""
    # isoformat, not strftime: %Y prints year 1 as "1" (glibc), isoformat always four digits.
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return f"{text} {TIMEZONE}"


def iso(moment: datetime | None) -> str | None:
    """The API's form of a time (`2025-02-14T13:05:00.000000Z`), None stays None."""
    return format_utc(moment) if moment is not None else None


__all__ = ["FORMS", "TIMEZONE", "TimeFormatError", "human", "iso", "parse_time"]
