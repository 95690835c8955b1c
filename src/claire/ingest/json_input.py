"""JSON from outside (a stream message, a POST /events body), read without silent rounding.

orjson reads an integer literal beyond 64 bits as a float: 18446744073709551616 (2**64) came
out as 1.8446744073709552e19 and was stored as "18446744073709552000", a changed value that
validation never saw. Such a literal has at least 19 digits, which an ordinary event never
holds outside a string, so only a document with a run of 19 digits is read a second time,
by the stdlib parser, which keeps integers exact; validation then refuses them by name
("integer ... is beyond 64 bits"). orjson still reads it first, so what is valid JSON does not
change (no NaN, strict UTF-8), and every normal event keeps the fast path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from claire.errors import EventValidationError
from claire.events.codec import parse_event_json
from claire.events.model import BaseEvent

LONG_DIGITS = re.compile(rb"[0-9]{19}")


def load_json(data: bytes, where: str) -> Any:
    """The JSON document in `data`, integers exact; EventValidationError names `where`."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError([(where, f"not valid JSON ({exc})")]) from None
    if LONG_DIGITS.search(data) is None:
        return document
    try:
        return json.loads(data)
    except RecursionError:  # orjson allows 1024 levels, the stdlib a little less
        raise EventValidationError([(where, "not valid JSON (nested too deeply)")]) from None


def parse_event_bytes(data: bytes) -> BaseEvent:
    """parse_event_json, exact for integers beyond 64 bits (see the module docstring)."""
    if LONG_DIGITS.search(data) is None:
        return parse_event_json(data)
    document = load_json(data, "event")
    if not isinstance(document, dict):
        raise EventValidationError([("event", "expected a JSON object")])
    return BaseEvent.parse(document)
