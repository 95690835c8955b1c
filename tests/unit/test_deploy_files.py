"""deploy/: the compose file parses and wires the seed's services; every file it names exists;
the stack is least-privilege (no secret in the file, the service as the writer and reader
roles, the administrator only for the migration, the API on the loopback with a read token).

There is no Docker engine here, so this checks what can be checked without one.
"""

from __future__ import annotations

import re
import subprocess
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
    assert "127.0.0.1:8004:8004" in store["ports"]
    assert store["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert store["environment"]["REDIS_URL"].startswith("redis://cdb_redis")
    assert store["depends_on"]["cdb_redis"]["condition"] == "service_healthy"
    migrate = services["cdb_migrate"]
    assert "claire db migrate" in " ".join(migrate["command"])
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
    assert 'CMD ["claire", "serve"]' in text  # migrating is the administrator's step, not its
    assert "EXPOSE 8004" in text


INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}")


def database_user(url: str) -> str:
    return url.split("://", 1)[1].split(":", 1)[0].split("@", 1)[0]


def test_the_service_runs_as_the_writer_and_reader_roles_and_migrates_as_the_administrator() -> (
    None
):
    services = compose()["services"]
    service = services["cdb_event_store"]["environment"]
    assert database_user(service["DATABASE_URL"]) == "claire_writer"
    assert database_user(service["CLAIRE_READ_DATABASE_URL"]) == "claire_reader"
    assert services["cdb_event_store"]["command"] == ["claire", "serve"]
    migrate = services["cdb_migrate"]
    assert database_user(migrate["environment"]["DATABASE_URL"]) == "postgres"
    # The migration creates the roles; the same one-off step gives them their passwords.
    assert "set_role_passwords.py" in " ".join(migrate["command"])
    for variable in ("CLAIRE_WRITER_PASSWORD", "CLAIRE_READER_PASSWORD"):
        assert variable in migrate["environment"]
    # Nothing but the migration connects as the administrator.
    admin_users = [
        name
        for name, definition in services.items()
        for key, value in (definition.get("environment") or {}).items()
        if key.endswith("DATABASE_URL") and database_user(value) == "postgres"
    ]
    assert admin_users == ["cdb_migrate"]


def test_no_secret_is_committed_every_one_comes_from_the_env_file() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    for name, definition in compose()["services"].items():
        for key, raw in (definition.get("environment") or {}).items():
            value = str(raw)
            if re.search(r"PASSWORD|TOKEN", key):
                assert INTERPOLATION.fullmatch(value), f"{name}.{key} is not from .env: {value}"
            if "://" in value and "@" in value:  # a URL with credentials: password from .env
                credentials = value.split("://", 1)[1].rsplit("@", 1)[0]
                if ":" in credentials:
                    assert INTERPOLATION.fullmatch(credentials.split(":", 1)[1]), (name, key)
    # Required secrets say so (docker compose refuses to start without them).
    used = {m.group(1): m.group(2) or "" for m in INTERPOLATION.finditer(text)}
    for variable in ("POSTGRES_PASSWORD", "CLAIRE_WRITER_PASSWORD", "CLAIRE_READER_PASSWORD"):
        assert used[variable].startswith(":?"), variable
    assert used["CLAIRE_READ_TOKEN"].startswith(":?")
    # .env.example documents every variable; .env itself is ignored and not in git.
    example = (DEPLOY / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert set(used) <= documented, set(used) - documented
    tracked = subprocess.run(
        ["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "deploy/.env" not in tracked
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "deploy/.env must be git-ignored"


def test_the_api_is_served_on_the_loopback_of_the_host_with_a_read_token() -> None:
    service = compose()["services"]["cdb_event_store"]
    assert all(str(port).startswith("127.0.0.1:") for port in service["ports"])
    # Inside the container it listens on 0.0.0.0, which claire serve refuses without a token.
    assert service["environment"]["CLAIRE_API_HOST"] == "0.0.0.0"
    assert INTERPOLATION.fullmatch(service["environment"]["CLAIRE_READ_TOKEN"])
    assert "/health/ready" in " ".join(service["healthcheck"]["test"])
