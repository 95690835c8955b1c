"""Readiness checks the schema afresh: a store whose schema falls behind this code (a migration
row missing, as when the code was upgraded and `claire db migrate` not yet run) makes
`/health/ready` say `schema: down` (503), with the reason only for a caller with the read
token; once the migration is recorded again it is ready again."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient
from pydantic import SecretStr

from claire.api.app import create_app
from claire.config import Settings
from claire.store import open_store

READ = "schema-read-token"


def test_readiness_reports_a_schema_behind_the_code(pg_url: str) -> None:
    with open_store(pg_url, create=True):
        pass
    settings = Settings(DATABASE_URL=pg_url, CLAIRE_READ_TOKEN=SecretStr(READ))
    with TestClient(create_app(settings)) as client:
        token = {"Authorization": f"Bearer {READ}"}
        ready = client.get("/health/ready", headers=token)
        assert ready.status_code == 200, ready.text
        assert ready.json()["components"]["schema"] == {"status": "ok"}

        with psycopg.connect(pg_url, autocommit=True) as conn:
            row = conn.execute(
                "DELETE FROM claire_schema_migrations WHERE name = "
                "(SELECT max(name) FROM claire_schema_migrations) RETURNING name, checksum"
            ).fetchone()
        assert row is not None
        anonymous = client.get("/health/ready")
        assert anonymous.status_code == 503
        assert anonymous.json()["components"]["schema"] == {"status": "down"}
        detailed = client.get("/health/ready", headers=token).json()["components"]
        assert detailed["store"] == {"status": "ok"}
        assert "older schema" in detailed["schema"]["detail"]
        assert "claire db migrate" in detailed["schema"]["detail"]

        with psycopg.connect(pg_url, autocommit=True) as conn:  # as `claire db migrate` would
            conn.execute(
                "INSERT INTO claire_schema_migrations (name, checksum) VALUES (%s, %s)", row
            )
        assert client.get("/health/ready").status_code == 200
