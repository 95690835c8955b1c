"""Settings from the environment (DATABASE_URL, REDIS_URL, ...), with embedded defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    api_host: str = Field(default="127.0.0.1", alias="CLAIRE_API_HOST")
    api_port: int = Field(default=8004, alias="CLAIRE_API_PORT")
    write_token: str | None = Field(default=None, alias="CLAIRE_WRITE_TOKEN")
    read_token: str | None = Field(default=None, alias="CLAIRE_READ_TOKEN")
    environment: str = Field(default="development", alias="CLAIRE_ENVIRONMENT")


def load_settings() -> Settings:
    return Settings()
