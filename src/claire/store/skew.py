"""Timestamps from the future are refused at the door (issue 12 §6).

A producer whose clock is wrong (or a typo, or an attacker) could store `9999-12-31T23:59:59Z`
for ever: the log is immutable, and every reader would have to live with it. Every door (the
Python API, POST /events, the ingest worker, the recorders) passes `EventStore.append`, so the
check is there, once: an event whose `timestamp_utc` lies more than the allowed skew (default
5 minutes, `CLAIRE_MAX_FUTURE_SKEW` seconds, `off` for none) ahead of the receiving clock is
refused, naming the field and the skew. The receiving clock is the wall clock at ingestion; it
only decides whether an event is accepted, never what is stored or hashed. Timestamps in the
past (historical or simulated data, backfills) are never refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from claire.errors import EventValidationError, StoreError
from claire.events.model import BaseEvent
from claire.events.values import format_utc

SKEW_ENV = "CLAIRE_MAX_FUTURE_SKEW"
DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def max_future_skew_from_env() -> timedelta | None:
    """CLAIRE_MAX_FUTURE_SKEW: seconds (e.g. 300), or `off`; unset: 5 minutes."""
    text = os.environ.get(SKEW_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_FUTURE_SKEW
    if text.lower() == "off":
        return None
    try:
        seconds = float(text)
        if not 0 <= seconds < 10**9:
            raise ValueError
        return timedelta(seconds=seconds)
    except ValueError:
        raise StoreError(
            f"{SKEW_ENV}={text!r}: expected a number of seconds (e.g. 300) or off"
        ) from None


def refuse_future(events: Sequence[BaseEvent], now: datetime, skew: timedelta) -> None:
    """EventValidationError naming each event stamped more than `skew` after `now`."""
    limit = now + skew
    problems = [
        (
            f"events[{index}].timestamp_utc",
            f"{format_utc(event.timestamp_utc)} is {_span(event.timestamp_utc - now)} ahead of "
            f"the receiving clock ({format_utc(now)}); at most {_span(skew)} ahead is accepted "
            f"({SKEW_ENV})",
        )
        for index, event in enumerate(events)
        if event.timestamp_utc > limit
    ]
    if problems:
        raise EventValidationError(problems)


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days:,} days"
    return f"{delta.total_seconds():,g} s"
