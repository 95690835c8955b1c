"""deploy/: the compose file parses and wires the seed's services; every file it names exists;
the stack is least-privilege (no secret in the file, the service as the writer and reader
roles, the administrator only for the migration, the API on the loopback with a read token).

There is no Docker engine here, so this checks what can be checked without one.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import tomllib
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


# --- the files against the code ------------------------------------------------------------------
SRC = ROOT / "src" / "claire"
ENV_NAME = re.compile(r"\"(CLAIRE_[A-Z0-9_]+|DATABASE_URL|REDIS_URL)\"")
# Read by the images' own tools, not by Claire.
NOT_CLAIRES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
# Read by deploy/set_role_passwords.py (each also as <NAME>_FILE).
ROLE_PASSWORDS = {"CLAIRE_WRITER_PASSWORD", "CLAIRE_READER_PASSWORD"}


def names_the_code_reads() -> set[str]:
    """Every environment variable named as a whole string literal in the package."""
    return {
        match.group(1)
        for path in SRC.rglob("*.py")
        for match in ENV_NAME.finditer(path.read_text(encoding="utf-8"))
    }


def compose_files() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(DEPLOY.glob("docker-compose*.yml"))]


def test_every_variable_the_files_set_is_one_the_code_reads() -> None:
    known = names_the_code_reads()
    assert {"DATABASE_URL", "REDIS_URL", "CLAIRE_READ_TOKEN"} <= known  # the scan finds them
    set_by_files: dict[str, str] = {}
    for document in compose_files():
        for name, service in document.get("services", {}).items():
            for variable in service.get("environment") or {}:
                set_by_files[variable] = f"compose service {name}"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    env_block = re.search(r"^ENV\s+((?:.*\\\n)*.*)$", dockerfile, flags=re.MULTILINE)
    assert env_block
    for variable in re.findall(r"([A-Z][A-Z0-9_]*)=", env_block.group(1)):
        set_by_files[variable] = "Dockerfile ENV"
    helper = (DEPLOY / "set_role_passwords.py").read_text()
    for variable in ROLE_PASSWORDS:
        assert variable in helper
    unknown = {
        f"{variable} ({where})"
        for variable, where in set_by_files.items()
        if variable.startswith(("CLAIRE_", "DATABASE_", "REDIS_"))
        and variable not in known | ROLE_PASSWORDS
    }
    assert not unknown, f"set but read by nobody (a typo?): {sorted(unknown)}"
    others = {v for v in set_by_files if not v.startswith(("CLAIRE_", "DATABASE_", "REDIS_"))}
    assert others <= NOT_CLAIRES | {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
    }


def test_every_variable_the_code_reads_is_documented_for_operators() -> None:
    documented = (DEPLOY / "README.md").read_text()
    missing = sorted(v for v in names_the_code_reads() if f"`{v}`" not in documented)
    assert not missing, f"deploy/README.md does not document {missing}"


def test_ports_and_health_paths_agree_with_the_service() -> None:
    service = compose()["services"]["cdb_event_store"]
    port = service["environment"]["CLAIRE_API_PORT"]
    assert all(str(mapping).endswith(f":{port}") for mapping in service["ports"])
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile and f"CLAIRE_API_PORT={port}" in dockerfile
    routes = (SRC / "api" / "health.py").read_text()
    for path in re.findall(
        r"/health/[a-z]+", " ".join(service["healthcheck"]["test"]) + dockerfile
    ):
        assert f'"{path}"' in routes, path
    documented = (DEPLOY / "README.md").read_text()
    for path in ("/health/live", "/health/ready", "/events/{id}/record"):
        assert f"`{path}`" in documented or f"`GET {path}`" in documented, path


def test_the_image_installs_extras_that_exist_and_ships_every_data_file() -> None:
    """The image installs the package (not editable): every file the code loads at run time
    (SQL migrations, JSON Schemas, the UI) must be package data, or the container lacks it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    installed = re.search(r'pip install "\.\[([a-z,]+)\]"', (DEPLOY / "Dockerfile").read_text())
    assert installed and set(installed.group(1).split(",")) <= extras
    patterns = pyproject["tool"]["setuptools"]["package-data"]["claire"]
    unshipped = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*")
        if path.is_file()
        and path.suffix not in {".py", ".pyc"}
        and "__pycache__" not in path.parts
        and not any(fnmatch.fnmatch(str(path.relative_to(SRC)), p) for p in patterns)
    ]
    assert not unshipped, f"not in [tool.setuptools.package-data]: {unshipped}"


def test_the_checkpoint_overlay_uses_a_secret_key_and_the_images_writable_volume() -> None:
    overlay = yaml.safe_load((DEPLOY / "docker-compose.checkpoints.yml").read_text())
    service = overlay["services"]["cdb_event_store"]
    env = service["environment"]
    secret = service["secrets"][0]
    assert env["CLAIRE_CHECKPOINT_KEY"] == f"/run/secrets/{secret}"
    key_file = overlay["secrets"][secret]["file"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str((DEPLOY / key_file).relative_to(ROOT))],
        cwd=ROOT,
        check=False,
    ).returncode
    assert ignored == 0, f"{key_file} must be git-ignored"
    volume, target = service["volumes"][0].split(":", 1)
    assert volume in overlay["volumes"] and target == env["CLAIRE_CHECKPOINT_DIR"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"mkdir -p {target}" in dockerfile and "chown -R claire /var/lib/claire" in dockerfile
    assert target.startswith("/var/lib/claire/")
