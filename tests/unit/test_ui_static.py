"""The timeline UI's static files: shipped in the package, offline, never parsing data as HTML,
and served at /ui/ open (no token) with a strict Content-Security-Policy."""

from __future__ import annotations

import asyncio
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx

from claire.api.app import create_app
from claire.api.ui import UI_DIRECTORY
from claire.config import Settings
from claire.store.memory import MemoryEventStore

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "lightweight-charts.standalone.production.mjs"
SOURCES = sorted((UI_DIRECTORY / "js").glob("*.js"))
# Ways of turning a string into markup or code; data goes through textContent / Text nodes.
HTML_SINKS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    r"|createContextualFragment|DOMParser"
)


def test_no_script_puts_strings_into_the_page_as_html() -> None:
    assert SOURCES, "the UI's modules are in claire/ui/js"
    for source in SOURCES:
        for number, line in enumerate(source.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            assert not HTML_SINKS.search(code), f"{source.name}:{number}: {line.strip()}"


def test_the_page_loads_nothing_from_another_origin() -> None:
    page = (UI_DIRECTORY / "index.html").read_text()
    for attribute in re.findall(r'<(?:script|link|img|iframe)[^>]*\b(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(https?:)?//", attribute), attribute
    for source in SOURCES:
        imports = re.findall(r'^import .* from "([^"]+)";', source.read_text(), re.MULTILINE)
        assert all(path.startswith("./") or path.startswith("../") for path in imports), source


def test_every_ui_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["claire"]
    package = UI_DIRECTORY.parent
    for path in UI_DIRECTORY.rglob("*"):
        if path.is_file():
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch(relative, p) for p in patterns), f"{relative} is not package data"


def test_the_chart_library_ships_with_its_licence_notice_and_credit() -> None:
    vendor = UI_DIRECTORY / "vendor" / "lightweight-charts"
    assert "Apache License" in (vendor / "LICENSE").read_text()
    assert "TradingView, Inc." in (vendor / "NOTICE").read_text()
    bundle = (vendor / BUNDLE).read_text()
    assert "TradingView Lightweight Charts" in bundle[:400]
    page = (UI_DIRECTORY / "index.html").read_text()
    assert 'href="https://www.tradingview.com/"' in page
    assert "attributionLogo: true" in (UI_DIRECTORY / "js" / "chart.js").read_text()


def test_ui_is_served_open_while_data_needs_the_read_token() -> None:
    settings = Settings(CLAIRE_READ_TOKEN="read-secret")
    app = create_app(settings, store=MemoryEventStore())

    async def requests() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui.test") as client:
            paths = ["/ui/", "/ui/js/main.js", f"/ui/vendor/lightweight-charts/{BUNDLE}", "/ui",
                     "/", "/ui/../config.py", "/events", "/openapi.json"]  # fmt: skip
            return {path: await client.get(path) for path in paths}

    answers = asyncio.run(requests())
    page = answers["/ui/"]
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert answers["/ui/js/main.js"].headers["content-type"].startswith("text/javascript")
    bundle = answers[f"/ui/vendor/lightweight-charts/{BUNDLE}"]
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert answers["/ui"].headers["location"] == "/ui/"
    assert answers["/"].headers["location"] == "/ui/"
    assert answers["/ui/../config.py"].status_code == 404
    assert answers["/events"].status_code == 401  # the data stays behind the token
    assert "/ui/" not in answers["/openapi.json"].json()["paths"]


def test_every_module_is_preloaded() -> None:
    """index.html fetches all modules at once (modulepreload) rather than import by import."""
    page = (UI_DIRECTORY / "index.html").read_text()
    for source in SOURCES:
        if source.name != "main.js":
            assert f'rel="modulepreload" href="js/{source.name}"' in page, source.name
