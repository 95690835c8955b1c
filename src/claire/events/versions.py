"""The current schema version of every event type, declared here and nowhere else, and the
upcasters that read older versions (see `claire.events.versioning` and docs/versions.md).

Changing a payload model in `claire.events.payloads` in a way its JSON Schema shows means a new
version: raise the type's number below, move the previous model, unchanged, into
`claire.events.history`, register an upcaster from the previous version here, and export the
schemas (`claire schema export -o src/claire/events/schemas`). `claire schema check` fails until
all of that is done.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from claire.events.history import RiskDecisionPayloadV1, SignalPayloadV1
from claire.events.payloads import PAYLOAD_MODELS, EventType, Payload
from claire.events.values import decimal_to_str
from claire.events.versioning import SchemaVersions

CURRENT_VERSIONS: dict[EventType, int] = {
    EventType.MARKET_DATA: 1,
    EventType.SIGNAL_GENERATED: 2,
    EventType.RISK_DECISION: 2,
    EventType.ORDER_REQUEST: 1,
    EventType.ORDER_RESULT: 1,
    EventType.POSITION_UPDATE: 1,
    EventType.ALERT: 1,
    EventType.STATE_SNAPSHOT: 1,
}

# The version of a stored event whose metadata records none. Claire recorded no versions before
# they were introduced, and what it stored until then is the format these types call version 2
# (version 1 is an older format that always records its number). Never change these numbers:
# they describe events already stored. A type not named here reads such events as version 1.
UNVERSIONED_VERSIONS: dict[EventType, int] = {
    EventType.SIGNAL_GENERATED: 2,
    EventType.RISK_DECISION: 2,
}

# The payload model of every version before the current one (claire.events.history).
HISTORY: dict[tuple[EventType, int], type[Payload]] = {
    (EventType.SIGNAL_GENERATED, 1): SignalPayloadV1,
    (EventType.RISK_DECISION, 1): RiskDecisionPayloadV1,
}

VERSIONS = SchemaVersions(CURRENT_VERSIONS, PAYLOAD_MODELS, HISTORY, UNVERSIONED_VERSIONS)
upcaster = VERSIONS.upcaster


@upcaster(EventType.SIGNAL_GENERATED, from_version=1)
def confidence_as_fraction(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: confidence in percent becomes a fraction (73.5 -> 0.735, the digits kept);
    v1 recorded no strategy parameters, so they are empty."""
    confidence = Decimal(payload["confidence"]).scaleb(-2)
    return {**payload, "confidence": decimal_to_str(confidence), "strategy_params": {}}


@upcaster(EventType.RISK_DECISION, from_version=1)
def risk_checks_by_name(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: the list of risk checks, each naming itself, becomes a mapping by name."""
    checks: dict[str, Any] = {}
    for check in payload.get("risk_checks", []):
        name = check["name"]
        if name in checks:
            raise ValueError(f"risk_checks: the check {name!r} is listed twice")
        checks[name] = {key: value for key, value in check.items() if key != "name"}
    return {**payload, "risk_checks": checks}
