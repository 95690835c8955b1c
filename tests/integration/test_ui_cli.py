"""`claire ui` refuses clearly what it cannot serve (the page itself: tests/browser)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.browser.conftest import claire


def test_no_store_is_one_line_with_the_way_out(tmp_path: Path) -> None:
    missing = tmp_path / "claire_events.db"
    result = claire("ui", "--port", "0", "--database-url", f"sqlite:///{missing}")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no event store at {missing}: record a session first (claire demo)"
    )
    assert not missing.exists(), "the UI never creates a store"


def test_an_unreadable_store_is_refused_without_its_password() -> None:
    url = "postgresql://claire:S3cret-pw@127.0.0.1:1/none"  # nothing listens on port 1
    result = claire("ui", "--port", "0", "--database-url", url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot read the event store: ")
    assert "S3cret-pw" not in result.stderr + result.stdout


def test_a_busy_port_or_a_bad_one_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = claire("ui", "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert claire("ui", "--port", "70000").returncode == 2
