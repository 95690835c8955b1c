"""Settings from the environment (DATABASE_URL, REDIS_URL, ...), with embedded defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # The API's read paths may connect as a read-only role (e.g. claire_reader).
    read_database_url: str | None = Field(default=None, alias="CLAIRE_READ_DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    api_host: str = Field(default="127.0.0.1", alias="CLAIRE_API_HOST")
    api_port: int = Field(default=8004, alias="CLAIRE_API_PORT")
    write_token: str | None = Field(default=None, alias="CLAIRE_WRITE_TOKEN")
    read_token: str | None = Field(default=None, alias="CLAIRE_READ_TOKEN")
    environment: str = Field(default="development", alias="CLAIRE_ENVIRONMENT")
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


def load_settings() -> Settings:
    return Settings()
