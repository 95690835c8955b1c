"""One recorder at a time, and an interrupted session is recorded as such (issue 12 §5).

Through the real `claire` entry point, on SQLite and PostgreSQL: two demos started together
(one records, the other fails at once having written nothing), a demo refused while another
process holds the lock, and a demo killed with SIGKILL mid-day followed by the next demo.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from claire.events import EventType
from claire.pipeline.interruptions import find_interrupted
from claire.store import open_store
from claire.store.locks import StoreBusyError, lock_path, recording_lock

CLAIRE = Path(sys.executable).with_name("claire")


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.Popen(
        [str(CLAIRE), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    process = start(cwd, *args)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def session_alerts(url: str, code: str) -> list[dict[str, object]]:
    with open_store(url) as store:
        return [
            {"sequence": e.sequence_number, **e.payload}
            for e in store.read(event_types=[EventType.ALERT])
            if e.payload["code"] == code
        ]


def assert_validates(cwd: Path, url: str) -> None:
    validate = run(cwd, "validate", "--database-url", url)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Deterministic: ✅ YES" in validate.stdout


def test_two_demos_at_once_one_records_the_other_writes_nothing(tmp_path: Path, url: str) -> None:
    demos = [start(tmp_path, "demo", "--database-url", url, "--json") for _ in range(2)]
    results = [(p.wait(timeout=120), p.stdout, p.stderr) for p in demos]
    outputs = [
        (code, out.read() if out else "", err.read() if err else "") for code, out, err in results
    ]
    assert sorted(code for code, _, _ in outputs) == [0, 1], outputs
    (_, recorded, _), (_, _, refused) = sorted(outputs, key=lambda o: o[0])
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: another recording is writing"), refused
    assert "Traceback" not in refused and "password" not in refused
    summary = json.loads(recorded)
    with open_store(url) as store:
        assert store.head().sequence_number == summary["last_sequence"]
    assert len(session_alerts(url, "session_started")) == 1
    assert_validates(tmp_path, url)


def test_a_held_lock_refuses_the_demo_at_once_before_anything_is_written(
    tmp_path: Path, url: str
) -> None:
    with recording_lock(url):
        started = time.monotonic()
        refused = run(
            tmp_path, "demo", "--database-url", url, "--fresh" if "sqlite" in url else "--json"
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "another recording is writing to this store" in refused.stderr
        assert time.monotonic() - started < 30  # at once, not after waiting for the lock
    if url.startswith("sqlite"):
        # Not even --fresh touched the file system: there is no store, only the lock file.
        assert not Path(url.removeprefix("sqlite:///")).exists()
        assert str(os.getpid()) in refused.stderr  # names the holder
    else:
        with open_store(url, create=True) as store:
            assert store.head().sequence_number == 0


def test_a_killed_demo_is_noted_by_the_next_one(tmp_path: Path, url: str) -> None:
    demo = start(tmp_path, "demo", "--database-url", url)
    with open_store(url, create=True) as store:  # perhaps before the demo creates it
        deadline = time.monotonic() + 60
        while store.head().sequence_number < 1000:  # the first batches are committed
            assert demo.poll() is None, "the demo finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    demo.send_signal(signal.SIGKILL)
    demo.wait(timeout=30)
    with open_store(url) as store:
        cut = store.head().sequence_number
    [started] = session_alerts(url, "session_started")
    assert not session_alerts(url, "session_finished")

    after = run(tmp_path, "demo", "--database-url", url)
    assert after.returncode == 0, after.stderr
    [note] = session_alerts(url, "session_interrupted")
    killed_session = started["context"]["session_id"]  # type: ignore[index]
    assert note["sequence"] == cut + 1  # the first thing the next recording wrote
    assert note["level"] == "WARNING"
    assert note["context"] == {
        "session_id": killed_session,
        "started_at_sequence": 1,
        "last_sequence": cut,
        "noted_by_session": note["context"]["noted_by_session"],  # type: ignore[index]
    }
    assert f"session_interrupted at sequence {cut + 1}" in after.stdout
    assert f"Session {killed_session} (started at sequence 1, last event at sequence {cut})" in (
        after.stdout
    )
    with open_store(url) as store:
        assert find_interrupted(store) is None  # noted once: the next recording notes nothing
    assert_validates(tmp_path, url)


def test_the_lock_is_reentrant_in_a_thread_and_refused_to_another(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with recording_lock(url):
                pass
        except StoreBusyError as exc:
            errors.append(exc)

    with recording_lock(url), recording_lock(url):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(errors) == 1 and "in this process" in str(errors[0])
    with recording_lock(url):  # released by the outer exit
        pass
    assert lock_path(url) == tmp_path / "events.db.lock"
