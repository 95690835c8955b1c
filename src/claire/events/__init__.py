"""The domain: events, their payloads, the logical clock, the factory and the codec."""

from claire.events.clock import LogicalClock, get_clock
from claire.events.codec import (
    GENESIS_HASH,
    canonical_bytes,
    chain_hash,
    content_hash,
    decode_event,
    parse_event_json,
)
from claire.events.factory import EventFactory
from claire.events.model import BaseEvent, EventMetadata
from claire.events.payloads import (
    PAYLOAD_MODELS,
    AlertLevel,
    AlertPayload,
    EventType,
    MarketDataPayload,
    OrderRequestPayload,
    OrderResultPayload,
    OrderStatus,
    OrderType,
    PositionStatus,
    PositionUpdatePayload,
    RiskCheckResult,
    RiskDecisionPayload,
    RiskState,
    Side,
    SignalPayload,
    StateSnapshotPayload,
)

__all__ = [
    "GENESIS_HASH",
    "PAYLOAD_MODELS",
    "AlertLevel",
    "AlertPayload",
    "BaseEvent",
    "EventFactory",
    "EventMetadata",
    "EventType",
    "LogicalClock",
    "MarketDataPayload",
    "OrderRequestPayload",
    "OrderResultPayload",
    "OrderStatus",
    "OrderType",
    "PositionStatus",
    "PositionUpdatePayload",
    "RiskCheckResult",
    "RiskDecisionPayload",
    "RiskState",
    "Side",
    "SignalPayload",
    "StateSnapshotPayload",
    "canonical_bytes",
    "chain_hash",
    "content_hash",
    "decode_event",
    "get_clock",
    "parse_event_json",
]
