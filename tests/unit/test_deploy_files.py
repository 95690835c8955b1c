"""deploy/: the compose file parses and wires the seed's services; every file it names exists.

There is no Docker engine here, so this checks what can be checked without one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def test_compose_has_the_seed_services_with_health_checks() -> None:
    services = compose()["services"]
    assert {"cdb_postgres", "cdb_redis", "cdb_event_store"} <= set(services)
    for name in ("cdb_postgres", "cdb_redis", "cdb_event_store"):
        assert "healthcheck" in services[name], name
    store = services["cdb_event_store"]
    assert "8004:8004" in store["ports"]
    assert store["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert store["environment"]["REDIS_URL"].startswith("redis://cdb_redis")
    assert store["depends_on"]["cdb_redis"]["condition"] == "service_healthy"
    migrate = services["cdb_migrate"]
    assert migrate["command"] == ["claire", "db", "migrate"]
    assert store["depends_on"]["cdb_migrate"]["condition"] == "service_completed_successfully"


def test_compose_build_contexts_and_mounts_exist() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context.is_dir(), name
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_dockerfile_copy_sources_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    copies = re.findall(r"^COPY\s+(.+)$", text, flags=re.MULTILINE)
    assert copies
    for copy in copies:
        *sources, _destination = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    assert "claire db migrate" in text and "claire serve" in text
    assert "EXPOSE 8004" in text
