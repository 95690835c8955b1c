"""Market data sources: the seeded synthetic market and the CSV reader."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from claire.pipeline import MarketDataError, SyntheticMarket, read_csv
from claire.pipeline.synthetic import DEMO_SYMBOLS

START = datetime(2025, 2, 14, tzinfo=UTC)


def test_synthetic_market_is_reproducible_from_its_seed() -> None:
    first = list(SyntheticMarket(7, START, 500).bars())
    again = list(SyntheticMarket(7, START, 500).bars())
    other = list(SyntheticMarket(8, START, 500).bars())
    assert first == again
    assert [b.price for b in first] != [b.price for b in other]


def test_synthetic_bars_are_realistic_and_time_ordered() -> None:
    bars = list(SyntheticMarket(1, START, 2000).bars())
    assert len(bars) == 2000 * len(DEMO_SYMBOLS)
    assert {b.symbol for b in bars} == {s.symbol for s in DEMO_SYMBOLS}
    times = [b.time for b in bars]
    assert times == sorted(times)
    for bar in bars:
        assert bar.low is not None and bar.high is not None and bar.open is not None
        assert bar.bid is not None and bar.ask is not None
        assert bar.low <= min(bar.open, bar.price) <= max(bar.open, bar.price) <= bar.high
        assert bar.bid < bar.ask
        assert bar.volume >= 0
        assert isinstance(bar.price, Decimal)
    # Volatility regimes: the largest bar move is several times the typical one.
    btc = [b for b in bars if b.symbol == "BTCUSDT"]
    moves = sorted(abs(b.price / a.price - 1) for a, b in pairwise(btc))
    assert moves[-1] > 4 * moves[len(moves) // 2]


def test_synthetic_market_continues_from_given_prices() -> None:
    market = SyntheticMarket(1, START, 1).with_start_prices({"BTCUSDT": Decimal("61000.123")})
    first = next(b for b in market.bars() if b.symbol == "BTCUSDT")
    assert first.open == Decimal("61000.12")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_bars_with_zone_less_and_date_only_timestamps(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "bars.csv",
        "timestamp,open,high,low,close,volume\n"
        "2025-02-14,100,101,99,100.5,10\n"
        "2025-02-14 00:01:00,100.5,102,100,101,12\n"
        "2025-02-14T01:02:00+01:00,101,101,100,100,3\n"
        "2025-02-14T00:03:00Z,100,101,99.5,100,4\n",
    )
    bars = read_csv(file, "TEST")
    assert [b.time for b in bars[:2]] == [
        datetime(2025, 2, 14, tzinfo=UTC),
        datetime(2025, 2, 14, 0, 1, tzinfo=UTC),
    ]
    assert bars[2].time == datetime(2025, 2, 14, 0, 2, tzinfo=UTC)
    assert bars[0].price == Decimal("100.5") and bars[0].high == Decimal(101)
    # An explicit zone is honoured: +01:00 is an hour earlier in UTC, so it breaks the order.
    with pytest.raises(MarketDataError, match=r"line 4: timestamp .* is earlier"):
        read_csv(
            _write(
                tmp_path / "order.csv", file.read_text().replace("01:02:00+01:00", "01:02:00+02:00")
            ),
            "TEST",
        )


def test_csv_ticks_with_configured_columns(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "ticks.csv", "Time,Last,Qty\n1739491200,50000.5,0.2\n1739491200500,50001,0.1\n"
    )
    bars = read_csv(
        file,
        "BTCUSDT",
        fmt="ticks",
        columns={"timestamp": "time", "price": "LAST", "volume": "qty"},
    )
    assert bars[0].time == datetime(2025, 2, 14, tzinfo=UTC)
    assert bars[1].time == datetime(2025, 2, 14, 0, 0, 0, 500000, tzinfo=UTC)
    assert bars[1].price == Decimal(50001) and bars[1].open is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2025-02-14 00:02:00,100,101,99,abc,1", r"line 3: column close: 'abc' is not a number"),
        ("2025-02-14 00:02:00,100,101,99,100", r"line 3: expected 6 columns, found 5"),
        ("2025-02-14 00:02:00,100,99,101,100,1", r"line 3: low 101 is above high 99"),
        ("yesterday,100,101,99,100,1", r"line 3: column timestamp: 'yesterday' is not"),
        (
            "2025-02-14 00:02:00,100,101,99,100,-1",
            r"line 3: column volume: -1 must be zero or more",
        ),
        ("2025-02-14 00:02:00,0,101,99,100,1", r"line 3: column open: 0 must be positive"),
        # No UTC time a datetime can hold (an OverflowError and a traceback before).
        (
            "0001-01-01T00:00:01+01:02,100,101,99,100,1",
            r"line 3: column timestamp: '0001-01-01T00:00:01\+01:02' is out of range in UTC",
        ),
        (
            "9999-12-31T23:59:59-01:00,100,101,99,100,1",
            r"line 3: column timestamp: '9999-12-31T23:59:59-01:00' is out of range in UTC",
        ),
    ],
)
def test_malformed_row_is_reported_with_its_line_number(
    tmp_path: Path, row: str, message: str
) -> None:
    file = _write(
        tmp_path / "bad.csv",
        f"timestamp,open,high,low,close,volume\n2025-02-14,100,101,99,100,1\n{row}\n",
    )
    with pytest.raises(MarketDataError, match=message):
        read_csv(file, "TEST")


def test_missing_column_names_the_header(tmp_path: Path) -> None:
    file = _write(tmp_path / "nohdr.csv", "time,price,volume\n2025-02-14,1,1\n")
    with pytest.raises(MarketDataError, match=r"no column 'timestamp'.*--column timestamp="):
        read_csv(file, "TEST", fmt="ticks")
    with pytest.raises(MarketDataError, match="format 'candles'"):
        read_csv(file, "TEST", fmt="candles")


def test_duplicate_timestamps_are_refused_with_all_their_line_numbers(tmp_path: Path) -> None:
    rows = ["timestamp,price,volume"]
    rows += [f"2025-02-14T00:00:{second:02d}Z,100,1" for second in range(10)]
    rows.insert(4, rows[3])  # line 5 repeats line 4
    rows[8:8] = ["", rows[7], rows[7]]  # lines 10 and 11 repeat line 8 (after a blank line 9)
    rows += [f"2025-02-14T00:01:{second:02d}Z,100,1" for second in (0, 0, 1, 1, 2, 2, 3, 3, 4, 4)]
    file = _write(tmp_path / "dup.csv", "\n".join(rows) + "\n")
    with pytest.raises(MarketDataError) as refused:
        read_csv(file, "TEST", fmt="ticks")
    message = str(refused.value)
    assert "dup.csv: 7 timestamp(s) appear more than once" in message
    assert "2025-02-14T00:00:02+00:00 at lines 4, 5;" in message
    assert "2025-02-14T00:00:05+00:00 at lines 8, 10, 11;" in message
    assert message.endswith("; and 2 more")
