"""The worker's own reading of XREADGROUP replies and its quick check for long digit runs.

The worker reads raw replies (redis-py's per-message parsing cost more than validating the
event); these tests hold the raw reading to what redis-py itself makes of the same reply, on
both protocols, including an entry deleted while pending.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from claire.events.codec import has_long_digit_run
from claire.ingest.streams import read_raw_stream_replies, stream_entries


@pytest.mark.parametrize("protocol", [2, 3])
def test_raw_replies_read_as_redis_py_parses_them(
    redis_base_url: str, redis_prefix: str, protocol: int
) -> None:
    stream = f"{redis_prefix}replies"
    client_class: Any = redis.Redis  # the stubs do not know `protocol`
    parsed = client_class.from_url(redis_base_url, protocol=protocol)
    raw = client_class.from_url(redis_base_url, protocol=protocol)
    read_raw_stream_replies(raw)
    deleted = parsed.xadd(stream, {b"event": b"{}"})
    parsed.xadd(stream, {b"event": b'{"a":1}', b"trace": b"t-1"})
    parsed.xadd(stream, {b"event": b'{"b":2}'})
    parsed.xgroup_create(stream, "g", id="0")

    first = stream_entries(raw.xreadgroup("g", "c", {stream: ">"}, count=10))
    assert [fields for _, fields in first] == [
        {b"event": b"{}"},
        {b"event": b'{"a":1}', b"trace": b"t-1"},
        {b"event": b'{"b":2}'},
    ]
    parsed.xdel(stream, deleted)
    pending_raw = stream_entries(raw.xreadgroup("g", "c", {stream: "0"}, count=10))
    pending_parsed = parsed.xreadgroup("g", "c", {stream: "0"}, count=10)
    expected = [(i, fields or {}) for i, fields in _entries(pending_parsed)]
    assert pending_raw == expected
    assert pending_raw[0] == (deleted, {})  # deleted while pending: nothing left to store
    assert stream_entries(raw.xreadgroup("g", "c", {stream: ">"}, count=10, block=1)) == []


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    # redis-py's parsed form: {stream: [entries]} on RESP3, [[stream, entries]] on RESP2.
    entries = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
    return list(entries)


@given(st.binary(max_size=80) | st.text(alphabet="0123456789x.-", max_size=80).map(str.encode))
def test_the_digit_run_check_agrees_with_a_regex(data: bytes) -> None:
    assert has_long_digit_run(data) == (re.search(rb"[0-9]{19}", data) is not None)


def test_the_digit_run_check_finds_exactly_nineteen_digits() -> None:
    assert has_long_digit_run(b'{"n":1234567890123456789}')
    assert not has_long_digit_run(b'{"n":123456789012345678}')
    assert not has_long_digit_run(b'{"n":"123456789012345678\xd9\xa0"}')  # Arabic-Indic zero
