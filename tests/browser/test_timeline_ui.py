"""The timeline UI in a real Chromium on a recorded demo session (issue 10 §3).

One `claire ui` process and one demo session serve the whole module; each test opens its own
browser context. Screenshots of every step go to the folder printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from claire.events import EventFactory, LogicalClock, Side
from claire.store import open_store
from tests.browser.conftest import (
    VIEWPORT,
    UiServer,
    claire,
    open_ui,
    shot,
    start_ui,
    stop_ui,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SYMBOL = "BTCUSDT"
AT = "2025-02-14T13:05:00Z"
AT_OPEN = "2025-02-14T13:14:30+00:00"  # a long BTCUSDT position is open then (demo session)
XSS = "<img src=x onerror=alert(1)>"


def scene_value(page: Page, field: str) -> str | None:
    return page.locator(f"#scene [data-field={field}]").first.get_attribute("data-value")


def wait_for_sequence_change(page: Page, old: str | None) -> str:
    page.wait_for_function(
        "old => document.querySelector('#scene [data-field=as_of_sequence]')"
        "?.dataset.value !== old",
        arg=old,
    )
    new = scene_value(page, "as_of_sequence")
    assert new is not None
    return new


def test_first_rejected_marker_opens_its_failed_risk_check(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_ui(page, f"{ui.url}?symbol={SYMBOL}")
    shot(page, artifacts, "01-overview")
    markers: list[dict[str, Any]] = page.evaluate("window.claire.markers()")
    rejected = min(
        (m for m in markers if m["kind"] == "decision_rejected"),
        key=lambda m: m["sequence_number"],
    )
    point = page.evaluate("id => window.claire.markerPoint(id)", rejected["event_id"])
    assert point is not None, "the first rejected decision is drawn on the chart"
    page.mouse.click(point["x"], point["y"])

    failed = page.locator("#panel-explain .checks tr.failed")
    expect(failed.first).to_be_visible()
    explained = ui.get(f"/events/{rejected['event_id']}/explain")
    expected = [c["name"] for c in explained["risk_checks"] if c["checked"] and not c["passed"]]
    assert expected, "a rejected demo decision has a failed check"
    assert [row.get_attribute("data-check") for row in failed.all()] == expected
    first = failed.first
    check = next(c for c in explained["risk_checks"] if c["name"] == expected[0])
    assert first.locator("[data-field=current_value]").inner_text() == check["current_value"]
    assert first.locator("[data-field=limit]").inner_text() == check["limit"]
    expect(page.locator("#panel-explain .badge.rejected")).to_have_text("REJECTED")
    assert f"event={rejected['event_id']}" in page.url
    assert scene_value(page, "as_of_sequence") == str(rejected["sequence_number"])
    shot(page, artifacts, "02-rejected-decision-explained")


def test_deep_link_shows_the_scene_of_claire_scene(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    cli = claire(
        "scene", "--at", AT_OPEN, "--symbol", SYMBOL, "--json", "--database-url", ui.database_url
    )
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert expected["state"]["positions"], "the moment is chosen with an open position"
    open_ui(page, f"{ui.url}?symbol={SYMBOL}&at={quote(AT_OPEN)}")

    assert scene_value(page, "as_of_sequence") == str(expected["as_of_sequence"])
    assert scene_value(page, "as_of_time") == expected["as_of_time"]
    state = expected["state"]
    for field in ("equity", "daily_pnl", "unrealized_pnl", "exposure"):
        assert scene_value(page, field) == state[field], field
    rows = page.locator("#scene tr[data-symbol]")
    assert rows.count() == len(state["positions"])
    for position in state["positions"]:
        row = page.locator(f"#scene tr[data-symbol={position['symbol']}]")
        for field in ("side", "size", "entry_price", "unrealized_pnl", "stop_loss_price"):
            cell = row.locator(f"[data-field={field}]")
            assert cell.get_attribute("data-value") == position[field], (position["symbol"], field)
        marked = row.locator("[data-field=unrealized_pnl]").get_attribute("data-last-price")
        assert marked == position["last_price"]
    for symbol, price in state["last_prices"].items():
        cell = page.locator(f"#scene dd[data-symbol={symbol}]")
        assert cell.get_attribute("data-value") == price, symbol
    # and the explanation of "why in or out of BTCUSDT at that time" beside it
    expect(page.locator("#panel-explain .why h2")).to_contain_text(SYMBOL)
    expect(page.locator("#cursor-label")).to_contain_text("2025-02-14 13:14:30 UTC")
    expect(page.locator("#panel-explain .why")).to_contain_text("long")
    shot(page, artifacts, "03-deep-link-scene")


def test_stepping_the_cursor_changes_the_state_and_back_returns(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    link = f"{ui.url}?symbol={SYMBOL}&at={AT}"
    open_ui(page, link)
    start = scene_value(page, "as_of_sequence")

    # Step to the next approved decision: it opens a position, so the next events change state.
    decisions: list[dict[str, Any]] = page.evaluate("window.claire.markers()")
    target = min(
        (
            m
            for m in decisions
            if m["kind"] == "decision_approved" and m["sequence_number"] > int(start or 0)
        ),
        key=lambda m: m["sequence_number"],
    )
    seq = start
    while seq != str(target["sequence_number"]):
        page.keyboard.press("Shift+ArrowRight")
        seq = wait_for_sequence_change(page, seq)
        assert int(seq) <= target["sequence_number"]
    expect(page.locator("#panel-explain .badge.approved")).to_be_visible()
    positions_before = page.locator("#scene tr[data-symbol]").count()
    shot(page, artifacts, "04-step-to-decision")

    for _ in range(3):  # order request, order result (fill), position update
        page.keyboard.press("ArrowRight")
        seq = wait_for_sequence_change(page, seq)
    expect(page.locator("#scene .changed").first).to_be_visible()
    assert page.locator("#scene tr[data-symbol]").count() == positions_before + 1
    assert "event=" in page.url
    shot(page, artifacts, "05-after-fill-position-opened")

    # A burst of steps is one history entry (a slow machine may make two or three): back
    # walks to the deep link again, and the page shows its scene.
    for _ in range(6):
        page.go_back()
        if "at=" in page.url:
            break
    assert "at=" in page.url
    page.wait_for_function(
        "start => document.querySelector('#scene [data-field=as_of_sequence]')"
        "?.dataset.value === start",
        arg=start,
    )
    shot(page, artifacts, "06-back-to-the-link")


def _xss_events(symbol: str) -> list[Any]:
    moments = iter(datetime(2025, 2, 15, 0, 0, s, tzinfo=UTC) for s in range(5, 60))
    f = EventFactory("xss-probe", "1.0.0", clock=LogicalClock(10**9), now=lambda: next(moments))
    trade = uuid.uuid4()
    market = f.create_market_data(
        symbol=symbol, price=Decimal("47000"), volume=Decimal("1"), source="test",
        correlation_id=trade,
    )  # fmt: skip
    signal = f.create_signal(
        symbol=symbol, side=Side.BUY, confidence=Decimal("0.1"), reason=XSS,
        price=Decimal("47000"), correlation_id=trade, causation_id=market.event_id,
    )  # fmt: skip
    decision = f.create_risk_decision(
        approved=False, reason=XSS, symbol=symbol, side=Side.BUY, position_size=Decimal("0.1"),
        risk_state={"equity": "100000", "daily_pnl": "0", "total_exposure_pct": "0",
                    "open_positions": 0},
        risk_checks={"min_confidence": {"checked": True, "passed": False,
                                        "current_value": "0.1", "limit": "0.6"}},
        correlation_id=trade, causation_id=signal.event_id,
    )  # fmt: skip
    alert = f.create_alert(
        level="WARNING", code="probe", message=XSS, context={"symbol": symbol},
        correlation_id=trade, causation_id=decision.event_id,
    )  # fmt: skip
    return [market, signal, decision, alert]


def test_event_text_is_shown_as_text_and_arrives_live(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_ui(page, f"{ui.url}?symbol={SYMBOL}")  # the cursor at the head: it follows new events
    events = _xss_events(SYMBOL)
    store = open_store(ui.database_url)
    try:
        store.append(events)
    finally:
        store.close()
    decision = events[2]
    row = page.locator(f"#events-body tr[data-id='{decision.event_id}']")
    expect(row).to_be_visible(timeout=5000)  # the live tail (SSE) brought it
    alert_row = page.locator(f"#events-body tr[data-id='{events[3].event_id}']")
    expect(alert_row).to_contain_text(XSS)
    row.locator("button.row-button").click()
    reason = page.locator("#panel-explain [data-field=reason]")
    expect(reason).to_have_text(XSS)
    expect(page.locator("#panel-explain .checks tr.failed")).to_have_count(1)
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("document.body.innerHTML.includes('<img src=\"x\"')") is False
    shot(page, artifacts, "07-xss-reason-as-text")


def test_read_token_is_asked_once_per_tab(
    demo_store: str, browser: Browser, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server = start_ui(demo_store, {**os.environ, "CLAIRE_READ_TOKEN": "ui-read-secret"})
    try:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(server.url)
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        page.fill("#token-input", "wrong")
        page.click("#token-dialog button[value=ok]")
        expect(page.locator("#token-message")).to_contain_text("refused")
        shot(page, artifacts, "08-token-refused")
        page.fill("#token-input", "ui-read-secret")
        page.click("#token-dialog button[value=ok]")
        page.evaluate("window.claire.ready")
        assert scene_value(page, "as_of_sequence")
        page.reload()  # same tab: the token is remembered, no second question
        page.evaluate("window.claire.ready")
        expect(dialog).to_be_hidden()
        assert "ui-read-secret" not in page.url
        context.close()
    finally:
        stop_ui(server)


def test_a_broken_chain_and_unverified_events_are_shown(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    """States a demo cannot show (a broken chain, an event that does not verify), given to the
    page by rewriting the service's answers in the browser."""
    from playwright.sync_api import Route, expect

    broken = {
        "status": "broken",
        "verified_to_sequence": 1554,
        "head_sequence": 26581,
        "first_break": {"sequence_number": 1555, "problem": "hash_mismatch", "message": "edited"},
        "checkpoint": None,
    }
    page.route("**/integrity", lambda route: route.fulfill(json=broken))

    def unverified(route: Route) -> None:
        document = route.fetch().json()
        document["events"][0].update(verified=False, problem="hash does not match its record")
        route.fulfill(json=document)

    page.route("**/timeline/events?**", unverified)
    open_ui(page, f"{ui.url}?symbol={SYMBOL}&at={AT}")
    badge = page.locator("#integrity")
    expect(badge).to_have_class("badge-integrity broken")
    expect(badge).to_contain_text("hash chain broken at sequence 1,555")
    mark = page.locator("#events-body tr[data-seq]").first.locator(".warn-mark")
    expect(mark).to_have_attribute("title", "hash does not match its record")
    shot(page, artifacts, "09-broken-chain-and-unverified-event")


def test_what_if_link_shows_both_curves_and_the_first_changed_decision(
    ui: UiServer, page: Page, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_ui(page, f"{ui.url}?symbol={SYMBOL}&tab=whatif&set=risk.max_open_positions=1")
    change = page.locator("#panel-whatif .first-change")
    expect(change).to_be_visible(timeout=30_000)  # a replay of the whole demo
    expect(change).to_contain_text("payload.risk_checks.max_open_positions.limit")
    assert page.evaluate("window.claire.whatifMarkers()") > 0, "what-if trades on the chart"
    expect(page.locator("#legend")).to_contain_text("what-if")
    shot(page, artifacts, "10-what-if")
    page.click("#panel-whatif button:has-text('Clear')")
    page.wait_for_function("() => !window.location.search.includes('set=')")
    assert page.evaluate("window.claire.whatifMarkers()") == 0
