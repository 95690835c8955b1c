"""Boundary conversions: exact decimals, UTC timestamps, JSON-native free-form values.

Everything that enters an event passes through here, so no float, NaN or naive datetime
can reach a decision or a hash.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, PlainSerializer

# Exponents beyond this are refused: they are never money, and `format(d, "f")` of
# Decimal("1E+999999") would be a megabyte of zeros.
MAX_DECIMAL_EXPONENT = 40
MAX_NESTING_DEPTH = 32

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]

# Decimal text from outside: positional notation (no exponent, no spaces, no leading zeros), the
# first significant digit at most MAX_DECIMAL_EXPONENT places from the point either way. The
# same grammar is published in the OpenAPI document (claire.events.input_schema), so whatever
# the document allows is accepted and nothing else is.
DECIMAL_LARGE = r"[1-9]\d{0,40}(\.\d+)?"  # |x| >= 1: at most 41 digits before the point
DECIMAL_SMALL = r"0\.0{0,39}[1-9]\d*"  # 0 < |x| < 1: a significant digit within 40 places
DECIMAL_ZERO = r"0(\.0+)?"
DECIMAL_TEXT = re.compile(rf"-?(?:{DECIMAL_LARGE}|{DECIMAL_SMALL}|{DECIMAL_ZERO})")


def to_decimal(value: Any) -> Decimal:
    """Convert a number to an exact Decimal; floats by their shortest repr (0.1 -> 0.1)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if not DECIMAL_TEXT.fullmatch(value):
            raise ValueError(
                f"{_clip(value)!r} is not a decimal number in positional notation within "
                f"{MAX_DECIMAL_EXPONENT} digits of the point (e.g. 50000.5, -0.001)"
            )
        try:
            result = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the grammar above admits only decimals
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if abs(result.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"{value!r} is out of range (|exponent| > {MAX_DECIMAL_EXPONENT})")
    if result == 0:
        # -0 and 0E-8 must encode like 0 with the same scale, never as "-0".
        result = abs(result)
    return result


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def decimal_to_str(value: Decimal) -> str:
    """Canonical text of a Decimal: positional notation, scale kept (1.50 stays 1.50)."""
    return format(value, "f")


Dec = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    PlainSerializer(decimal_to_str, return_type=str, when_used="json"),
]


# Timestamps from outside: RFC 3339 with seconds and a zone (Z or +hh:mm), at most microseconds.
# The calendar's two end days are taken only in UTC or with an offset that keeps them inside it:
# 0001-01-01T00:00:01+01:02 or 9999-12-31T23:00:00-05:00 have no UTC time a datetime can hold.
_EDGE_OF_TIME = r"(?!0000|0001-01-01T[^Z]*\+(?!00:00)|9999-12-31T[^Z]*-(?!00:00))"
TIMESTAMP_TEXT = re.compile(
    _EDGE_OF_TIME + r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


def to_utc(value: Any) -> datetime:
    """Accept an aware datetime or RFC 3339 text with a zone; refuse naive times."""
    if isinstance(value, str):
        if not TIMESTAMP_TEXT.fullmatch(value):
            raise ValueError(_timestamp_problem(value))
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date and time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (naive datetimes are ambiguous)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is still year 0 in UTC
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None


def _timestamp_problem(text: str) -> str:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is None:
        return f"{_clip(text)!r} has no zone: timestamp must be timezone-aware (add Z or +hh:mm)"
    if parsed is not None and re.fullmatch(TIMESTAMP_TEXT.pattern[len(_EDGE_OF_TIME) :], text):
        return (
            f"{text!r} is on the first or last day of the calendar with an offset that may "
            "take it outside years 1-9999 in UTC: write it in UTC (Z)"
        )
    return (
        f"{_clip(text)!r} is not an RFC 3339 timestamp with seconds and a zone "
        "(e.g. 2025-02-14T13:05:00Z)"
    )


def format_utc(value: datetime) -> str:
    """Canonical UTC text with microseconds, e.g. 2025-02-14T13:05:00.000000Z."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat() is several times faster than strftime(), and this runs for every event;
    # in UTC it always ends in "+00:00".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(to_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]


def shifted(moment: datetime, delta: timedelta) -> datetime | None:
    """moment + delta, or None beyond what a datetime holds (years 1 to 9999): an open bound
    for a range that starts or ends at the edge of time (e.g. an event stored at 9999-12-31)."""
    try:
        return moment + delta
    except OverflowError:
        return None


def _json_integer(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# For a StrictInt field, after its bounds (so the schema states them): JSON Schema counts 923.0
# as an integer, so it is one; "5", true and 1.5 are not.
AS_JSON_INTEGER = BeforeValidator(_json_integer)


def check_text(value: str, where: str) -> str:
    # PostgreSQL JSONB and TEXT cannot hold NUL; lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValueError(f"{where}: text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: text is not valid Unicode (lone surrogate)") from None
    return value


def to_json_value(value: Any, where: str = "value", depth: int = 0) -> JsonValue:
    """Normalise free-form data to JSON-native values; floats and Decimals become decimal text."""
    if depth > MAX_NESTING_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_NESTING_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # JSON interop (and the canonical encoder) stop at 64 bits; larger numbers go as text.
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"{where}: integer {value} is beyond 64 bits (send it as a string)")
        return value
    if isinstance(value, str):
        return check_text(value, where)
    if isinstance(value, float) and value.is_integer() and not -(2**63) <= value < 2**64:
        # 1e20 is an integer to JSON Schema, so the 64-bit limit applies to it too.
        raise ValueError(f"{where}: integer {value!r} is beyond 64 bits (send it as a string)")
    if isinstance(value, float | Decimal):
        try:
            return decimal_to_str(to_decimal(value))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if isinstance(value, dict):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings, got {type(key).__name__}")
            check_text(key, where)
            out[key] = to_json_value(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ValueError(f"{where}: {type(value).__name__} is not JSON data")


def _json_object(value: Any) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    result = to_json_value(value, "object")
    assert isinstance(result, dict)
    return result


JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object)]


_M = TypeVar("_M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__


def construct_trusted(cls: type[_M], values: dict[str, Any], fields_set: frozenset[str]) -> _M:
    """Build a model from values validated before (every field given), skipping validation.

    model_construct() costs ~3 µs; replay decodes a million events, so build the instance the
    way pydantic itself lays it out. Never for data from outside.
    """
    instance = _new(cls)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(fields_set))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
