"""The current schema version of every event type, declared here and nowhere else, and the
upcasters that read older versions (see `claire.events.versioning` and docs/versions.md).

Changing a payload model in `claire.events.payloads` in a way its JSON Schema shows means a new
version: raise the type's number below, move the previous model, unchanged, into
`claire.events.history`, register an upcaster from the previous version here, and export the
schemas (`claire schema export -o src/claire/events/schemas`). `claire schema check` fails until
all of that is done.
"""

from __future__ import annotations

from claire.events.payloads import PAYLOAD_MODELS, EventType
from claire.events.versioning import SchemaVersions

CURRENT_VERSIONS: dict[EventType, int] = {
    EventType.MARKET_DATA: 1,
    EventType.SIGNAL_GENERATED: 1,
    EventType.RISK_DECISION: 1,
    EventType.ORDER_REQUEST: 1,
    EventType.ORDER_RESULT: 1,
    EventType.POSITION_UPDATE: 1,
    EventType.ALERT: 1,
    EventType.STATE_SNAPSHOT: 1,
}

VERSIONS = SchemaVersions(CURRENT_VERSIONS, PAYLOAD_MODELS)
upcaster = VERSIONS.upcaster
