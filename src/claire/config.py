"""Settings from the environment (DATABASE_URL, REDIS_URL, ...), with embedded defaults."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from claire.redact import redact_url, register_secret, register_url_secrets

URL_FIELDS = ("database_url", "read_database_url", "redis_url")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # The API's read paths may connect as a read-only role (e.g. claire_reader).
    read_database_url: str | None = Field(default=None, alias="CLAIRE_READ_DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    api_host: str = Field(default="127.0.0.1", alias="CLAIRE_API_HOST")
    api_port: int = Field(default=8004, alias="CLAIRE_API_PORT")
    # Tokens are SecretStr: printed as '**********' anywhere (repr, logs, tracebacks).
    write_token: SecretStr | None = Field(default=None, alias="CLAIRE_WRITE_TOKEN")
    read_token: SecretStr | None = Field(default=None, alias="CLAIRE_READ_TOKEN")
    # `claire serve` writes a signed checkpoint into this folder every interval (when set).
    checkpoint_dir: str | None = Field(default=None, alias="CLAIRE_CHECKPOINT_DIR")
    checkpoint_interval_s: float = Field(default=60.0, gt=0, alias="CLAIRE_CHECKPOINT_INTERVAL")
    # Ingestion (Redis Stream -> store); see claire.ingest.
    ingest_stream: str = Field(default="claire:events", alias="CLAIRE_INGEST_STREAM")
    ingest_group: str = Field(default="claire-ingest", alias="CLAIRE_INGEST_GROUP")
    ingest_consumer: str | None = Field(default=None, alias="CLAIRE_INGEST_CONSUMER")
    dead_letter_stream: str | None = Field(default=None, alias="CLAIRE_DEAD_LETTER_STREAM")
    pubsub_channel: str = Field(default="claire:events", alias="CLAIRE_PUBSUB_CHANNEL")
    ingest_batch_size: int = Field(default=1000, ge=1, le=10_000, alias="CLAIRE_INGEST_BATCH")
    claim_idle_ms: int = Field(default=30_000, ge=1, alias="CLAIRE_CLAIM_IDLE_MS")
    causation_grace_ms: int = Field(default=30_000, ge=0, alias="CLAIRE_CAUSATION_GRACE_MS")
    # Readiness reports the ingest worker `down` (stuck) after this long without a sign of life.
    ingest_stuck_s: float = Field(default=60.0, gt=0, alias="CLAIRE_INGEST_STUCK_S")

    # Services (metadata.service, comma-separated) whose state_snapshot events the doors accept;
    # nobody by default (see claire.ingest.admission).
    trusted_snapshot_services: str = Field(default="", alias="CLAIRE_TRUSTED_SNAPSHOT_SERVICES")

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in URL_FIELDS and value else value

    def register_secrets(self) -> Settings:
        """Tell claire.redact this configuration's passwords and tokens, so they are masked
        wherever they might surface (error messages, logs)."""
        for name in URL_FIELDS:
            register_url_secrets(getattr(self, name))
        for token in (self.write_token, self.read_token):
            if token is not None:
                register_secret(token.get_secret_value())
        return self


def load_settings() -> Settings:
    return Settings().register_secrets()


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret ('' counts as unset)."""
    return (value.get_secret_value() or None) if value is not None else None
