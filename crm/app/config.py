"""Service settings: one object, read once, passed down."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is a ``CRM_``-prefixed environment variable (or a line of ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="CRM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). Unset: embedded PostgreSQL.",
    )
    data_dir: Path = Field(default=Path(".crm-data"), description="Embedded PostgreSQL data folder.")
    service_host: str = "0.0.0.0"
    service_port: int = Field(default=8082, ge=1, le=65535)
    db_pool_min_size: int = Field(default=2, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    db_command_timeout: float = Field(default=30.0, gt=0, description="Seconds before a query is cancelled.")
    business_timezone: str = Field(default="Europe/Moscow", description="Zone in which 'today' is computed.")
    default_currency: str = Field(
        default="RUB", pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code used when none is given."
    )
    events_source: str = Field(default="crm.deals", min_length=1, description="CloudEvents `source`.")
    documents_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Documents service REST API base URL. Unset: policy document links are accepted unchecked.",
    )
    documents_timeout: float = Field(default=3.0, gt=0, le=60, description="Seconds per call to Documents.")
    idempotency_key_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    access_log: bool = Field(default=True, description="Log one line per HTTP request.")
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="Log lines as JSON instead of console text.")

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def business_zone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)
