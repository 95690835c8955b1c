"""Hypothesis strategies: batches holding one event of every type, with the values that stress
an encoding - decimals at the door's exponent limits, any Unicode text, nested free-form data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from claire.events import BaseEvent, EventFactory, EventType, LogicalClock, Side
from claire.events.values import MAX_DECIMAL_EXPONENT

# Any Unicode a JSON document and PostgreSQL can hold: no lone surrogates, no NUL.
CHARACTERS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
TEXT = st.text(CHARACTERS)
SHORT = st.text(CHARACTERS, min_size=1, max_size=60)
SYMBOL = st.from_regex(r"[A-Za-z0-9._:/-]{1,40}", fullmatch=True)
SIDE = st.sampled_from(Side)


@st.composite
def decimals(
    draw: st.DrawFn,
    *,
    positive: bool = False,
    signed: bool = True,
    largest: int = MAX_DECIMAL_EXPONENT,
) -> Decimal:
    """Up to 34 significant digits, the adjusted exponent anywhere in the door's range."""
    coefficient = draw(st.integers(1 if positive else 0, 10**34 - 1))
    digits = tuple(int(d) for d in str(coefficient))
    adjusted = draw(st.integers(-MAX_DECIMAL_EXPONENT, largest))
    negative = signed and not positive and draw(st.booleans())
    return Decimal((int(negative), digits, adjusted - len(digits) + 1))


POSITIVE = decimals(positive=True) | st.floats(min_value=1e-30, max_value=1e30)
NON_NEGATIVE = decimals(signed=False)
SIGNED = decimals() | st.integers(-(10**30), 10**30)
FRACTION = decimals(signed=False, largest=-1) | st.sampled_from([Decimal(0), Decimal("1.000")])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | TEXT
    | decimals()
    # Floats the door takes: an integral one must fit 64 bits, a fraction the decimal range.
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda x: x == 0 or 10.0**-MAX_DECIMAL_EXPONENT < abs(x) < 10.0**18
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=5)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def event_batches(draw: st.DrawFn) -> list[BaseEvent]:
    """market data -> signal -> decision -> order -> result -> position -> alert, a snapshot."""
    # Ids are random, not drawn: the examples of a test share one store, and an id is stored
    # once (the values that matter to the encoding are all drawn).
    moments = iter(datetime(2025, 2, 14, tzinfo=UTC) + timedelta(microseconds=i) for i in range(99))
    f = EventFactory(
        service_name=draw(SHORT),
        version=draw(SHORT),
        environment=draw(SHORT),
        code_version=draw(optional(SHORT)),
        config_hash=draw(optional(SHORT)),
        clock=LogicalClock(draw(st.integers(0, 2**62))),
        now=lambda: next(moments),
    )
    trade = uuid.uuid4()
    symbol, side = draw(SYMBOL), draw(SIDE)
    md = f.create_market_data(
        symbol=symbol,
        price=draw(POSITIVE),
        volume=draw(NON_NEGATIVE),
        bid=draw(optional(POSITIVE)),
        ask=draw(optional(POSITIVE)),
        high=draw(optional(POSITIVE)),
        source=draw(TEXT),
        correlation_id=trade,
    )
    signal = f.create_signal(
        symbol=symbol,
        side=side,
        confidence=draw(FRACTION),
        reason=draw(TEXT),
        price=draw(POSITIVE),
        strategy_params=draw(OBJECTS),
        correlation_id=trade,
        causation_id=md.event_id,
    )
    check = st.fixed_dictionaries(
        {"checked": st.booleans(), "passed": st.booleans()},
        optional={"current_value": SIGNED, "limit": SIGNED},
    )
    decision = f.create_risk_decision(
        approved=draw(st.booleans()),
        reason=draw(TEXT),
        symbol=symbol,
        side=side,
        position_size=draw(NON_NEGATIVE),
        stop_loss_price=draw(optional(POSITIVE)),
        risk_state={
            "equity": draw(SIGNED),
            "daily_pnl": draw(SIGNED),
            "total_exposure_pct": draw(NON_NEGATIVE),
            "open_positions": draw(st.integers(0, 2**31)),
        },
        risk_checks=draw(st.dictionaries(TEXT, check, max_size=4)),
        correlation_id=trade,
        causation_id=signal.event_id,
    )
    order_id = draw(SHORT)
    order = f.create_order_request(
        order_id=order_id,
        symbol=symbol,
        side=side,
        size=draw(POSITIVE),
        limit_price=draw(optional(POSITIVE)),
        correlation_id=trade,
        causation_id=decision.event_id,
    )
    result = f.create_order_result(
        order_id=order_id,
        symbol=symbol,
        side=side,
        status=draw(st.sampled_from(["FILLED", "PARTIAL", "REJECTED", "CANCELLED"])),
        filled_size=draw(NON_NEGATIVE),
        average_price=draw(optional(POSITIVE)),
        fee=draw(NON_NEGATIVE),
        reason=draw(TEXT),
        correlation_id=trade,
        causation_id=order.event_id,
    )
    position = f.create_position_update(
        symbol=symbol,
        side=side,
        status=draw(st.sampled_from(["OPENED", "CLOSED"])),
        size=draw(NON_NEGATIVE),
        entry_price=draw(POSITIVE),
        realized_pnl=draw(SIGNED),
        unrealized_pnl=draw(SIGNED),
        correlation_id=trade,
        causation_id=result.event_id,
    )
    alert = f.create_alert(
        level=draw(st.sampled_from(["INFO", "WARNING", "ERROR", "CRITICAL"])),
        code=draw(SHORT),
        message=draw(TEXT),
        context=draw(OBJECTS),
        correlation_id=trade,
        causation_id=position.event_id,
    )
    snapshot = f.create_state_snapshot(
        at_sequence=draw(st.integers(0, 7)),  # before its own position, which is 8 or more
        state=draw(OBJECTS),
        state_hash=draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
        correlation_id=trade,
    )
    batch = [md, signal, decision, order, result, position, alert, snapshot]
    assert {e.event_type for e in batch} == set(EventType)
    return batch
