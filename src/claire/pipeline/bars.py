"""Bar: one market observation (an OHLCV bar or a tick) before it becomes a market_data event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from claire.events.model import BaseEvent
from claire.events.payloads import MarketDataPayload
from claire.events.values import construct_trusted, decimal_to_str

_MARKET_DATA_FIELDS = frozenset(MarketDataPayload.model_fields)


@dataclass(frozen=True, slots=True)
class Bar:
    """Prices are Decimal; a tick has only `price` and `volume` (open/high/low are None)."""

    symbol: str
    time: datetime
    price: Decimal
    volume: Decimal
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None

    @property
    def low_or_price(self) -> Decimal:
        return self.low if self.low is not None else self.price

    @property
    def high_or_price(self) -> Decimal:
        return self.high if self.high is not None else self.price

    @property
    def open_or_price(self) -> Decimal:
        return self.open if self.open is not None else self.price

    def typed_payload(self, source: str) -> MarketDataPayload:
        """The market_data payload, built without re-validating (a Bar is already checked)."""
        values = {
            "symbol": self.symbol,
            "price": self.price,
            "volume": self.volume,
            "bid": self.bid,
            "ask": self.ask,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "source": source,
        }
        return construct_trusted(MarketDataPayload, values, _MARKET_DATA_FIELDS)

    def payload(self, source: str) -> dict[str, Any]:
        """The market_data payload (JSON-native: Decimals as text)."""
        doc: dict[str, Any] = {
            "symbol": self.symbol,
            "price": decimal_to_str(self.price),
            "volume": decimal_to_str(self.volume),
            "source": source,
        }
        for name in ("bid", "ask", "open", "high", "low"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = decimal_to_str(value)
        return doc

    @classmethod
    def from_event(cls, event: BaseEvent) -> Bar:
        """Read a stored or new market_data event back into a Bar."""
        typed = event.cached_data()  # a fresh event carries its typed payload already
        if isinstance(typed, MarketDataPayload):
            return cls(
                typed.symbol,
                event.timestamp_utc,
                typed.price,
                typed.volume,
                typed.open,
                typed.high,
                typed.low,
                typed.bid,
                typed.ask,
            )
        p = event.payload
        return cls(
            symbol=p["symbol"],
            time=event.timestamp_utc,
            price=Decimal(p["price"]),
            volume=Decimal(p["volume"]),
            open=_optional(p.get("open")),
            high=_optional(p.get("high")),
            low=_optional(p.get("low")),
            bid=_optional(p.get("bid")),
            ask=_optional(p.get("ask")),
        )


def _optional(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)
