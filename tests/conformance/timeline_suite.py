"""Conformance of the timeline queries (issue 10): every adapter answers like the memory one.

Mixed into each adapter's conformance class beside `StoreConformance`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from claire.events import BaseEvent, EventType, Side
from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from rigs.factories import START, factory, trade


def _alert(symbol: str | None, seconds: int) -> BaseEvent:
    context = {"symbol": symbol} if symbol else {"limit": "max_exposure"}
    return factory(start=START + timedelta(seconds=seconds)).create_alert(
        level="WARNING", code="x", message="m", context=context, correlation_id=uuid.uuid4()
    )


class TimelineConformance:
    def _two_symbols(self, store: EventStore) -> None:
        """1-5 BTC trade, 6-10 ETH trade, 11 ETH alert, 12 alert naming no symbol."""
        store.append(trade(symbol="BTCUSDT"))
        store.append(trade(factory(start=START + timedelta(seconds=10)), symbol="ETHUSDT"))
        store.append([_alert("ETHUSDT", 20), _alert(None, 21)])

    def test_find_events_by_symbol_type_range_and_direction(self, store: EventStore) -> None:
        self._two_symbols(store)
        eth = [e.sequence_number for e in store.find_events(symbol="ETHUSDT")]
        assert eth == [6, 7, 8, 9, 10, 11]  # the alert names ETH in its context
        decisions = store.find_events(event_types=[EventType.RISK_DECISION])
        assert [e.sequence_number for e in decisions] == [3, 8]
        newest = store.find_events(symbol="BTCUSDT", to_sequence=4, newest_first=True, limit=2)
        assert [e.sequence_number for e in newest] == [4, 3]
        later = store.find_events(
            symbol="ETHUSDT",
            event_types=[EventType.RISK_DECISION, EventType.ALERT],
            from_sequence=9,
            limit=5,
        )
        assert [e.sequence_number for e in later] == [11]
        assert store.find_events(symbol="SOLUSDT") == []
        assert store.find_events(from_sequence=13) == []

    def test_chart_events_carry_each_decisions_cause_price(self, store: EventStore) -> None:
        self._two_symbols(store)
        exit_bar = factory(start=START + timedelta(seconds=30)).create_market_data(
            symbol="BTCUSDT", price=Decimal("48999.5"), volume=1, correlation_id=uuid.uuid4()
        )
        exit_ = factory(start=START + timedelta(seconds=31)).create_risk_decision(
            approved=True,
            reason="Stop-loss hit",
            symbol="BTCUSDT",
            side=Side.SELL,
            position_size=Decimal("0.2"),
            stop_loss_price=None,
            risk_state={
                "equity": "100000",
                "daily_pnl": "0",
                "total_exposure_pct": "0.1",
                "open_positions": 1,
            },
            risk_checks={
                "stop_loss": {
                    "checked": True,
                    "passed": False,
                    "current_value": "48990",
                    "limit": "49000",
                }
            },
            correlation_id=uuid.uuid4(),
            causation_id=exit_bar.event_id,
        )
        store.append([exit_bar, exit_])  # 13, 14
        found = [
            (e.sequence_number, e.event_type.value, p) for e, p in store.chart_events("BTCUSDT")
        ]
        assert found == [
            (3, "risk_decision", "50000.0"),  # the signal's price
            (5, "order_result", None),
            (11, "alert", None),  # every alert: the caller decides which are the symbol's
            (12, "alert", None),
            (14, "risk_decision", "48999.5"),  # an exit: the market data's price
        ]
        assert [e.sequence_number for e, _ in store.chart_events("BTCUSDT", 4, 12)] == [5, 11, 12]
        assert [e.sequence_number for e, _ in store.chart_events("ETHUSDT", 1, 9)] == [8]
        assert store.chart_events("SOLUSDT", 13) == []

    def test_bars_are_undecoded_market_data_of_a_symbol(self, store: EventStore) -> None:
        self._two_symbols(store)
        everything = store.bars(None)
        assert [(b.sequence_number, b.symbol) for b in everything] == [
            (1, "BTCUSDT"),
            (6, "ETHUSDT"),
        ]
        (btc,) = store.bars("BTCUSDT", 1, 5)
        assert (btc.price, btc.volume, btc.open, btc.high) == ("50000.0", "1500", None, None)
        assert btc.timestamp_utc == START
        assert store.bars("BTCUSDT", 2) == []

    def test_bar_buckets_cut_like_ntile_and_keep_the_extremes(self, store: EventStore) -> None:
        f = factory()
        prices = ["100.50", "101.25", "99.10", "100.00", "102.5", "98.75", "100"]
        bars = [
            f.create_market_data(
                symbol="BTCUSDT",
                price=Decimal(price),
                volume=Decimal("1.5"),
                high=Decimal(price) + 1 if i % 2 else None,
                correlation_id=uuid.uuid4(),
            )
            for i, price in enumerate(prices)
        ]
        store.append([*bars, *trade(f, symbol="ETHUSDT")])
        reference = MemoryEventStore()
        reference.append(list(store.read()))
        for buckets in (1, 3, 7, 50):
            found = store.bar_buckets("BTCUSDT", buckets=buckets)
            assert found == reference.bar_buckets("BTCUSDT", buckets=buckets)
        three = store.bar_buckets("BTCUSDT", buckets=3)
        assert [b.bars for b in three] == [3, 2, 2]
        first = three[0]
        assert (first.open, first.high, first.low, first.close) == (
            "100.50",
            "102.25",
            "99.10",
            "99.10",
        )
        assert (first.volume, first.first_sequence, first.last_sequence) == ("4.5", 1, 3)
        assert [b.close for b in store.bar_buckets("BTCUSDT", buckets=50)] == prices
        assert store.bar_buckets("BTCUSDT", 2, 3, buckets=5)[0].time == START + timedelta(seconds=1)
        assert store.bar_buckets("SOLUSDT", buckets=5) == []

    def test_symbol_stats(self, store: EventStore) -> None:
        self._two_symbols(store)
        store.append(trade(factory(start=START + timedelta(seconds=30)), symbol="BTCUSDT"))
        stats = {s.symbol: s for s in store.symbol_stats()}
        assert sorted(stats) == ["BTCUSDT", "ETHUSDT"]
        btc = stats["BTCUSDT"]
        assert (btc.bars, btc.first_sequence, btc.last_sequence) == (2, 1, 13)
        assert (btc.first_time, btc.last_time) == (START, START + timedelta(seconds=30))
        assert [s.symbol for s in store.symbol_stats(from_sequence=7)] == ["BTCUSDT"]
        assert [s.symbol for s in store.symbol_stats(2, 6)] == ["ETHUSDT"]

    def test_sequence_at_a_time(self, store: EventStore) -> None:
        assert store.sequence_at(START) == 0
        store.append(trade())  # START + 0..4 s
        assert store.sequence_at(START - timedelta(microseconds=1)) == 0
        assert store.sequence_at(START) == 1  # an event exactly at the time belongs to it
        assert store.sequence_at(START + timedelta(seconds=2, milliseconds=500)) == 3
        assert store.sequence_at(START + timedelta(days=1)) == 5

    def test_sequence_at_follows_sequence_order_when_stamps_disagree(
        self, store: EventStore
    ) -> None:
        store.append(trade())  # 1-5 at START + 0..4 s
        store.append(_alert(None, 60))  # 6, stamped a minute later than what follows
        store.append(trade(factory(start=START + timedelta(seconds=10))))  # 7-11 at +10..14 s
        # The first event stamped after +12 s in time order is 10, but 6 comes first.
        assert store.sequence_at(START + timedelta(seconds=12)) == 5
        assert store.sequence_at(START + timedelta(seconds=5)) == 5
        assert store.sequence_at(START + timedelta(seconds=60)) == 11
