"""Typed payload per event type. Stored payloads are the JSON form of these models."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from claire.events.values import AS_JSON_INTEGER, Dec, JsonObject, check_text


class EventType(StrEnum):
    MARKET_DATA = "market_data"
    SIGNAL_GENERATED = "signal_generated"
    RISK_DECISION = "risk_decision"
    ORDER_REQUEST = "order_request"
    ORDER_RESULT = "order_result"
    POSITION_UPDATE = "position_update"
    ALERT = "alert"
    STATE_SNAPSHOT = "state_snapshot"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    FILLED = "FILLED"
    PARTIAL = "PARTIAL"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class PositionStatus(StrEnum):
    OPENED = "OPENED"
    CLOSED = "CLOSED"


class AlertLevel(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


def _text(value: str) -> str:
    return check_text(value, "text")


Text = Annotated[str, AfterValidator(_text)]
Symbol = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._:/-]+$")]
NonNegative = Annotated[Dec, Field(ge=0)]
Positive = Annotated[Dec, Field(gt=0)]
Fraction = Annotated[Dec, Field(ge=0, le=1)]
# Integers and booleans are taken as JSON Schema has them: "3" or true for a count, 1 or "yes" for
# a flag are refused, as the published schema says.
Count = Annotated[StrictInt, Field(ge=0), AS_JSON_INTEGER]


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class MarketDataPayload(Payload):
    symbol: Symbol
    price: Positive
    volume: NonNegative
    bid: Positive | None = None
    ask: Positive | None = None
    open: Positive | None = None
    high: Positive | None = None
    low: Positive | None = None
    source: Text = "unknown"


class SignalPayload(Payload):
    symbol: Symbol
    side: Side
    confidence: Fraction
    reason: Text
    price: Positive
    strategy_params: JsonObject = Field(default_factory=dict)


class RiskState(Payload):
    equity: Dec
    daily_pnl: Dec
    total_exposure_pct: NonNegative
    open_positions: Count


class RiskCheckResult(Payload):
    checked: StrictBool
    passed: StrictBool
    current_value: Dec | None = None
    limit: Dec | None = None


class RiskDecisionPayload(Payload):
    approved: StrictBool
    reason: Text
    symbol: Symbol
    side: Side
    position_size: NonNegative
    stop_loss_price: Positive | None = None
    risk_state: RiskState
    risk_checks: dict[Text, RiskCheckResult] = Field(default_factory=dict)


class OrderRequestPayload(Payload):
    order_id: Annotated[Text, Field(min_length=1, max_length=100)]
    symbol: Symbol
    side: Side
    order_type: OrderType = OrderType.MARKET
    size: Positive
    limit_price: Positive | None = None
    reduce_only: StrictBool = False


class OrderResultPayload(Payload):
    order_id: Annotated[Text, Field(min_length=1, max_length=100)]
    symbol: Symbol
    side: Side
    status: OrderStatus
    filled_size: NonNegative
    average_price: Positive | None = None
    fee: NonNegative = Decimal(0)
    reason: Text = ""


class PositionUpdatePayload(Payload):
    symbol: Symbol
    side: Side
    status: PositionStatus
    size: NonNegative
    entry_price: Positive
    stop_loss_price: Positive | None = None
    realized_pnl: Dec = Decimal(0)
    unrealized_pnl: Dec = Decimal(0)


class AlertPayload(Payload):
    level: AlertLevel
    code: Annotated[Text, Field(min_length=1, max_length=100)]
    message: Text
    context: JsonObject = Field(default_factory=dict)


class StateSnapshotPayload(Payload):
    at_sequence: Count
    state: JsonObject
    state_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


PAYLOAD_MODELS: dict[EventType, type[Payload]] = {
    EventType.MARKET_DATA: MarketDataPayload,
    EventType.SIGNAL_GENERATED: SignalPayload,
    EventType.RISK_DECISION: RiskDecisionPayload,
    EventType.ORDER_REQUEST: OrderRequestPayload,
    EventType.ORDER_RESULT: OrderResultPayload,
    EventType.POSITION_UPDATE: PositionUpdatePayload,
    EventType.ALERT: AlertPayload,
    EventType.STATE_SNAPSHOT: StateSnapshotPayload,
}


def payload_json(payload: Payload) -> dict[str, Any]:
    """The stored (JSON-native) form of a typed payload."""
    return payload.model_dump(mode="json")
