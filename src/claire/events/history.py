"""The payload models of older schema versions, as they were when events of them were stored.

A model here never changes again: it describes events already in logs (see docs/versions.md).
`claire schema check` compares each with its committed schema
(`claire/events/schemas/versions/<event_type>/v<N>.schema.json`). The upcasters that read them
into the current models are in `claire.events.versions`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool

from claire.events.payloads import (
    NonNegative,
    Payload,
    Positive,
    RiskState,
    Side,
    Symbol,
    Text,
)
from claire.events.values import Dec

Percent = Annotated[Dec, Field(ge=0, le=100)]


class SignalPayloadV1(Payload):
    """signal_generated, version 1: confidence in percent (0..100), no strategy parameters."""

    symbol: Symbol
    side: Side
    confidence: Percent
    reason: Text
    price: Positive


class RiskCheckV1(Payload):
    """One risk check of a version 1 risk decision: named by its own field."""

    name: Text
    checked: StrictBool
    passed: StrictBool
    current_value: Dec | None = None
    limit: Dec | None = None


class RiskDecisionPayloadV1(Payload):
    """risk_decision, version 1: the risk checks as a list, each naming itself."""

    approved: StrictBool
    reason: Text
    symbol: Symbol
    side: Side
    position_size: NonNegative
    stop_loss_price: Positive | None = None
    risk_state: RiskState
    risk_checks: list[RiskCheckV1] = Field(default_factory=list)
