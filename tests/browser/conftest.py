"""Browser tests: a real Chromium (Debian's package) driven by Playwright, against a real
`claire ui` process on a recorded demo session.

Without Chromium (or Playwright) these tests skip naming what is missing; under
CLAIRE_REQUIRE_SERVICES=1 (as CI runs) they fail instead. Screenshots of every step are kept
in one folder, printed at the end of the run (CLAIRE_UI_ARTIFACTS chooses it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("CLAIRE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 720}


def _missing(what: str) -> None:
    message = f"{what}; install it with `apt-get install -y chromium chromium-driver`"
    if os.environ.get("CLAIRE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"CLAIRE_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


def claire(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert the return code
        [sys.executable, "-c", "from claire.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder named by CLAIRE_UI_ARTIFACTS, which tests/conftest.py sets once per run (so
    that every test worker saves there and the run's summary can print it)."""
    folder = Path(os.environ["CLAIRE_UI_ARTIFACTS"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is open,
    which would break asyncio.run() in the tests that follow."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (it is in the dev dependency group)")
    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One demo session (~26,000 events, 3 symbols) for every browser test."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ui-demo') / 'claire_events.db'}"
    recorded = claire("demo", "--database-url", url)
    assert recorded.returncode == 0, recorded.stderr
    return url


@dataclass
class UiServer:
    url: str  # http://127.0.0.1:PORT/ui/
    database_url: str
    process: subprocess.Popen[str]

    @property
    def base(self) -> str:
        return self.url.removesuffix("/ui/")

    def get(self, path: str, token: str | None = None, **params: str) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()


def start_ui(database_url: str, env: dict[str, str] | None = None) -> UiServer:
    """`claire ui --port 0`: it prints the URL it listens on, which the tests then open."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from claire.cli.app import main; main()",
            "ui",
            "--port",
            "0",
            "--database-url",
            database_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("Claire timeline UI: "):
        process.kill()
        raise AssertionError(f"claire ui printed {first!r}: {process.stderr.read()}")  # type: ignore[union-attr]
    server = UiServer(first.split(": ", 1)[1].strip(), database_url, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("claire ui did not answer within 30 s")


def stop_ui(server: UiServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def ui(demo_store: str) -> Iterator[UiServer]:
    server = start_ui(demo_store)
    try:
        yield server
    finally:
        stop_ui(server)


@pytest.fixture
def page(browser: Browser, artifacts: Path) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:  # alert() from injected markup would land here
        errors.append(f"dialog opened: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


def open_ui(page: Page, url: str) -> None:
    """Navigate and wait until the chart, markers, scene and explanation are in."""
    page.goto(url)
    page.wait_for_function("window.claire !== undefined")
    page.evaluate("window.claire.ready")


def shot(page: Page, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    return path
