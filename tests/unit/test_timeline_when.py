"""The one time parser of the CLI and the API: the forms people type, and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from claire.cli.audit import human_time
from claire.timeline.when import TimeFormatError, human, parse_time

T = datetime(2025, 2, 14, 13, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-14 13:05",
        "2025-02-14T13:05",
        "2025-02-14T13:05:00",
        " 2025-02-14t13:05:00.000000 ",
        "2025-02-14T13:05:00Z",
        "2025-02-14 13:05 UTC",
        "2025-02-14T15:05:00+02:00",
        "2025-02-14T15:05+0200",
        "2025-02-14T08:05:00-05",
        "2025-02-14T13:05:00,0+00:00",
    ],
)
def test_the_same_moment_in_every_accepted_form(text: str) -> None:
    assert parse_time(text) == T


def test_dates_fractions_and_the_utc_label() -> None:
    assert parse_time("2025-02-14") == datetime(2025, 2, 14, tzinfo=UTC)
    moment = parse_time("2025-02-14T13:05:00.25")
    assert moment.microsecond == 250_000
    assert human(moment) == "2025-02-14 13:05:00.250000 UTC"
    assert human(T) == "2025-02-14 13:05:00 UTC"


def test_the_first_and_last_years_print_with_four_digits() -> None:
    # strftime's %Y prints year 1 as "1" on glibc: "1-01-01" is not a date anyone can read back.
    first = parse_time("0001-01-01")
    assert human(first) == "0001-01-01 00:00:00 UTC"
    assert human_time(first) == "0001-01-01 00:00:00"
    assert parse_time(human(first)) == first
    last = parse_time("9999-12-31T23:59:59.999999Z")
    assert human(last) == "9999-12-31 23:59:59.999999 UTC"
    assert human_time(last) == "9999-12-31 23:59:59"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "is not a date or time"),
        ("14.02.2025 13:05", "is not a date or time"),
        ("2025-02-14 13", "is not a date or time"),
        ("2025-02-30 13:05", "day is out of range for month"),
        ("2025-02-14 25:00", "hour must be in 0..23"),
        ("2025-02-14T13:05+25:00", "offset +25:00 is out of range"),
        ("9999-12-31T23:59:59-01:00", "is not a valid time"),
        ("0001-01-01T00:00:00+01:00", "is not a valid time"),
    ],
)
def test_errors_are_one_line_naming_the_parameter(text: str, reason: str) -> None:
    with pytest.raises(TimeFormatError) as caught:
        parse_time(text, "query.at")
    message = str(caught.value)
    assert message.startswith("query.at: ") and reason in message
    assert "\n" not in message and "2025-02-14T13:05:00+02:00" in message
