"""The compose stack's start-up, without Docker: `claire db migrate` as the administrator, then
deploy/set_role_passwords.py, on a private cluster that checks passwords. Afterwards the
writer role appends with its password, the reader role reads and may not append, and a
wrong password is refused; the script prints no password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from claire.errors import StoreError
from claire.store import open_store
from rigs.factories import trade
from rigs.servers import PrivatePostgres, private_postgres
from tests.integration.test_api_service import ROOT
from tests.integration.test_faults_restarts import _started

WRITER_PASSWORD = "writer-" + uuid.uuid4().hex[:10]
READER_PASSWORD = "reader-" + uuid.uuid4().hex[:10]


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    yield from _started(private_postgres())


def role_url(server: PrivatePostgres, role: str, password: str) -> str:
    return f"postgresql://{role}:{password}@127.0.0.1:{server.port}/claire"


def test_migrate_as_administrator_then_role_passwords(cluster: PrivatePostgres) -> None:
    admin_url = cluster.create_database("claire")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": admin_url}
    migrate = subprocess.run(
        [sys.executable, "-c", "from claire.cli.app import main; main()", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    env.update(CLAIRE_WRITER_PASSWORD=WRITER_PASSWORD, CLAIRE_READER_PASSWORD=READER_PASSWORD)
    script = [sys.executable, str(ROOT / "deploy" / "set_role_passwords.py")]
    done = subprocess.run(script, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "passwords set for claire_writer, claire_reader" in done.stdout
    assert WRITER_PASSWORD not in done.stdout + done.stderr
    missing = subprocess.run(
        script,
        env={**env, "CLAIRE_READER_PASSWORD": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and "CLAIRE_READER_PASSWORD" in missing.stderr

    cluster.require_passwords()
    events = trade()
    with open_store(role_url(cluster, "claire_writer", WRITER_PASSWORD)) as writer:
        assert writer.append(events) == [1, 2, 3, 4, 5]
    with open_store(role_url(cluster, "claire_reader", READER_PASSWORD)) as reader:
        assert [e.event_id for e in reader.read()] == [e.event_id for e in events]
        with pytest.raises(StoreError, match="permission denied"):
            reader.append(trade())
    with pytest.raises(StoreError, match="password authentication failed") as refused:
        open_store(role_url(cluster, "claire_writer", READER_PASSWORD))
    assert READER_PASSWORD not in str(refused.value)
