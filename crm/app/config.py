"""Service settings: one object, read once, passed down."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crm.domain.money import parse_currency
from crm.infrastructure.auth.keys import MIN_HS256_SECRET_BYTES, rsa_public_key


class AuthNotConfigured(RuntimeError):
    """Authentication is on and no key to verify tokens with is configured."""


# What a browser sends as `Origin`: scheme, host and maybe a port; no path, not even a trailing slash.
_ORIGIN = re.compile(r"^https?://[^\s/?#]+$")


class Settings(BaseSettings):
    """Every setting is a ``CRM_``-prefixed environment variable (or a line of ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="CRM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # A refused value (a short secret, a URL with its password) is never echoed into an error or a log.
        hide_input_in_errors=True,
    )

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). Unset: embedded PostgreSQL.",
    )
    data_dir: Path = Field(
        default=Path(".crm-data"), description="Embedded PostgreSQL data folder; crm-worker beat's schedule file."
    )
    service_host: str = "0.0.0.0"
    service_port: int = Field(default=8082, ge=1, le=65535)
    db_pool_min_size: int = Field(default=2, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    db_command_timeout: float = Field(default=30.0, gt=0, description="Seconds before a query is cancelled.")
    db_acquire_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds a request waits for a free connection before it is answered 503 with Retry-After.",
    )
    business_timezone: str = Field(default="Europe/Moscow", description="Zone in which 'today' is computed.")
    default_currency: str = Field(default="RUB", description="ISO 4217 code used when none is given.")
    events_source: str = Field(default="crm.deals", min_length=1, description="CloudEvents `source`.")
    rabbitmq_url: str | None = Field(
        default=None,
        pattern=r"^amqps?://\S+$",
        description="RabbitMQ URL for crm.events. Unset: events wait in the outbox until one is configured.",
    )
    events_exchange: str = Field(default="crm.events", min_length=1, max_length=255, description="Topic exchange.")
    redis_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://\S+$",
        description="Redis URL: SSE fan-out across processes, default Celery broker. Unset: fan-out stays in-process.",
    )
    celery_broker_url: str | None = Field(default=None, description="crm-worker's Celery broker. Unset: CRM_REDIS_URL.")
    worker_queue: str = Field(default="crm-worker", min_length=1, description="The Celery queue crm-worker consumes.")
    worker_visibility_timeout: int = Field(
        default=600,
        ge=4,
        le=86_400,
        description="Seconds before a job message a worker took but never acknowledged (killed) is handed out again.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which `crm-worker worker` serves its jobs' metrics at /metrics. Unset: not served.",
    )
    worker_metrics_address: str = Field(
        default="0.0.0.0", min_length=1, description="Address the worker's metrics port listens on."
    )
    relay_enabled: bool = Field(default=True, description="Run the outbox relay in crm-api.")
    relay_batch_size: int = Field(default=500, ge=1, le=10_000, description="Outbox rows published per round.")
    relay_poll_interval: float = Field(
        default=2.0, gt=0, le=300, description="Seconds between outbox polls when no NOTIFY arrives."
    )
    relay_max_backoff: float = Field(
        default=30.0, gt=0, le=3600, description="Longest wait, in seconds, between attempts while the broker is away."
    )
    relay_stall_after: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds without progress after which a leading relay with events waiting is replaced.",
    )
    outbox_retention: timedelta = Field(
        default=timedelta(days=7), description="How long published outbox rows are kept (and replayable by SSE)."
    )
    stream_channel: str = Field(default="crm.stream.deals", min_length=1, description="Redis pub/sub channel.")
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300, description="SSE heartbeat comment interval.")
    permissions_redis_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://\S+$",
        description="Redis of the BullMQ permission queue. Unset: CRM_REDIS_URL; neither: permission sync answers 503.",
    )
    permissions_queue_prefix: str = Field(
        default="bull", min_length=1, max_length=64, pattern=r"^\S+$", description="BullMQ key prefix."
    )
    permissions_queue_name: str = Field(
        default="permissions-sync", min_length=1, max_length=128, description="BullMQ queue Auth consumes."
    )
    permissions_job_name: str = Field(
        default="permissions.sync", min_length=1, max_length=128, description="Name of each BullMQ job."
    )
    permissions_queue_timeout: float = Field(
        default=2.0, gt=0, le=30, description="Seconds an enqueue may take before the job is recorded as failed."
    )
    documents_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Documents service REST API base URL. Unset: policy document links are accepted unchecked.",
    )
    documents_timeout: float = Field(default=3.0, gt=0, le=60, description="Seconds per call to Documents.")
    idempotency_key_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    cursor_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Key list cursors are signed with. Unset: a random key kept in the database (crm.service_keys).",
    )
    auth_disabled: bool = Field(
        default=False,
        description="Development only: no token is checked and every request acts as an admin without an id.",
    )
    jwt_access_secret: SecretStr | None = Field(
        default=None, description="HS256 key access tokens are signed with (at least 32 bytes)."
    )
    jwt_public_key: str | None = Field(
        default=None, description="PEM of the RSA public key RS256 access tokens are signed with (2048 bits or more)."
    )
    jwt_jwks_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="JWK Set URL of the issuer's RS256 keys, picked by `kid`."
    )
    jwt_issuer: str | None = Field(default=None, min_length=1, description="Required `iss`. Unset: not checked.")
    jwt_audience: str | None = Field(default=None, min_length=1, description="Required `aud`. Unset: not checked.")
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on `exp`, `nbf` and `iat`, in seconds."
    )
    jwt_jwks_refresh_interval: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Fewest seconds between two fetches of the JWK Set (a token with an unknown `kid` asks for one).",
    )
    jwt_jwks_max_age: float = Field(
        default=600.0, gt=0, le=86_400, description="Seconds the JWK Set is used before it is fetched again."
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Origins (scheme://host[:port]) whose pages may call the API from a browser, comma-separated "
        "or a JSON list; `*` alone for any origin, then without credentials. Empty: no CORS headers at all.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        le=1_073_741_824,
        description="Largest request body in bytes; a larger one is answered 413 payload_too_large unread.",
    )
    export_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        le=100_000_000,
        description="Rows a CSV export may hold; more matching is 422 export_too_large before anything is sent.",
    )
    export_xlsx_max_rows: int = Field(
        default=100_000,
        ge=1,
        le=1_048_575,
        description="Rows an XLSX export may hold (it is built whole on disk before it is sent).",
    )
    export_concurrency: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Exports one crm-api process runs at once, each holding a database connection; one more is 503.",
    )
    import_max_rows: int = Field(default=10_000, ge=1, le=1_000_000, description="Rows a clients CSV import may hold.")
    import_max_bytes: int = Field(
        default=16_777_216,
        ge=1,
        le=1_073_741_824,
        description="Largest body of POST /api/v1/clients/import, in bytes (it replaces CRM_MAX_BODY_BYTES there).",
    )
    rate_limit_requests: int = Field(
        default=600,
        ge=0,
        le=1_000_000,
        description="Requests one caller (the token's subject, else the client address) may make per window "
        "on /api/v1 and the streams; 0 turns rate limiting off.",
    )
    rate_limit_window_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="The window, in seconds, CRM_RATE_LIMIT_REQUESTS applies to."
    )
    rate_limit_redis_timeout: float = Field(
        default=0.1,
        gt=0,
        le=5,
        description="Seconds a rate limit check waits for Redis before this process counts on its own instead.",
    )
    rate_limit_prefix: str = Field(
        default="crm:rate-limit",
        min_length=1,
        max_length=128,
        pattern=r"^\S+$",
        description="Prefix of the Redis keys rate limits are kept under (<prefix>:actor:<id>, <prefix>:addr:<ip>).",
    )
    access_log: bool = Field(default=True, description="Log one line per HTTP request.")
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="Log lines as JSON instead of console text.")

    # --- Notifications: templates, delivery by crm-worker, the notifications stream ---
    notifications_default_locale: str = Field(
        default="ru-RU",
        min_length=2,
        max_length=16,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="Locale of a template created without one, and the one a notification falls back to.",
    )
    notifications_poll_interval: float = Field(
        default=2.0, gt=0, le=3600, description="Seconds between crm-worker's runs delivering due notifications."
    )
    notifications_batch_size: int = Field(
        default=50, ge=1, le=1000, description="Deliveries a worker claims and sends at once."
    )
    notifications_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Tries per recipient and channel before a delivery is failed."
    )
    notifications_retry_base_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="First wait before a retry; doubled each try, with jitter."
    )
    notifications_retry_max_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Longest wait between two tries (unless Telegram asks longer)."
    )
    notifications_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds a worker holds the deliveries it took; a worker killed mid-send leaves them to "
        "another after this.",
    )
    notifications_telegram_api_url: str = Field(
        default="https://api.telegram.org", pattern=r"^https?://\S+$", description="Telegram Bot API base URL."
    )
    notifications_telegram_bot_token: SecretStr | None = Field(
        default=None, description="Bot token. Unset (and no mock): Telegram deliveries fail with a clear error."
    )
    notifications_telegram_mock: bool = Field(
        default=False, description="Development: Telegram messages are recorded as sent, nothing goes out."
    )
    notifications_telegram_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Seconds a sendMessage call may take."
    )
    notifications_stream_key: str = Field(
        default="crm.notifications",
        min_length=1,
        max_length=255,
        pattern=r"^\S+$",
        description="Redis stream the sse channel adds to and GET /api/notifications/stream reads.",
    )
    notifications_stream_maxlen: int = Field(
        default=10_000, ge=100, le=10_000_000, description="About how many entries the Redis stream keeps."
    )
    notifications_retention: timedelta = Field(
        default=timedelta(days=30), description="How long delivered notifications are kept before being pruned."
    )

    # --- Inbound notification events (the in-process RabbitMQ consumer, POST /api/notifications/events) ---
    notifications_consumer_enabled: bool = Field(
        default=True, description="Run the inbound events consumer in crm-api (when CRM_RABBITMQ_URL is set)."
    )
    notifications_exchange: str = Field(
        default="notifications.exchange",
        min_length=1,
        max_length=255,
        description="Durable topic exchange other systems publish inbound CloudEvents to.",
    )
    notifications_queue_name: str = Field(
        default="notifications.events",
        min_length=1,
        max_length=200,
        description="Durable quorum queue bound with `notifications.*`; `<name>.retry` and `<name>.dlq` beside it.",
    )
    notifications_prefetch: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Inbound messages one crm-api process holds unacknowledged; journaled together in one transaction.",
    )
    notifications_max_deliveries: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Tries of an inbound event that keeps failing before it is dead-lettered to `<queue>.dlq`.",
    )
    notifications_retry_delay: float = Field(
        default=1.0, gt=0, le=3600, description="Seconds before the first retry of a failed inbound event; doubles."
    )
    notifications_inbound_retention: timedelta = Field(
        default=timedelta(days=30),
        description="How long inbound events stay journaled; a repeated id is recognised (and skipped) within it.",
    )
    lead_distribution_seed: int | None = Field(
        default=None,
        description="Seeds the weighted draw of appeals among operators, for reproducible tests and benchmarks. "
        "Unset (production): seeded from the operating system.",
    )
    notifications_retry_max_delay: float = Field(
        default=60.0, gt=0, le=86_400, description="Longest wait, in seconds, before a retry of an inbound event."
    )

    # --- Occasions that reach people (crm-worker: docs/reminders.md) ---
    payment_due_notice_days: int = Field(
        default=3,
        ge=0,
        le=366,
        description="An unpaid instalment planned within this many days of today (business day) is notified once "
        "(payment.due).",
    )
    renewal_notice_days: int = Field(
        default=30,
        ge=0,
        le=366,
        description="A policy ending within this many days becomes pending_renewal, gets a renewal task and its "
        "owner is notified (policy.renewal).",
    )

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        return parse_currency(value)

    @field_validator("permissions_queue_name")
    @classmethod
    def _bullmq_queue_name(cls, value: str) -> str:
        # BullMQ joins prefix, queue name and id with ':' into its keys, and refuses a name containing one.
        if ":" in value:
            raise ValueError("must not contain ':' (BullMQ uses it to build its Redis keys)")
        if any(character.isspace() for character in value):
            raise ValueError("must not contain whitespace")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else text.split(",")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _browser_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins = tuple(dict.fromkeys(origin.strip() for origin in value if origin.strip()))
        if "*" in origins and len(origins) > 1:
            raise ValueError("`*` allows every origin; list origins without it, or give `*` alone")
        bad = [origin for origin in origins if origin != "*" and not _ORIGIN.match(origin)]
        if bad:
            raise ValueError(f"not an origin (scheme://host[:port], no path or trailing slash): {bad[0]!r}")
        return origins

    @field_validator("outbox_retention", "notifications_retention", "notifications_inbound_retention")
    @classmethod
    def _positive_retention(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("jwt_access_secret")
    @classmethod
    def _long_enough_for_hs256(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_HS256_SECRET_BYTES} bytes long")
        return value

    @field_validator("jwt_public_key")
    @classmethod
    def _rsa_public_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # An environment variable often carries the PEM's line breaks as literal "\n".
        pem = value.replace("\\n", "\n").strip()
        rsa_public_key(pem)
        return pem

    @property
    def token_keys_configured(self) -> bool:
        return bool(self.jwt_access_secret or self.jwt_public_key or self.jwt_jwks_url)

    def require_token_keys(self) -> None:
        """crm-api refuses to start with authentication on and nothing to check a token with."""
        if not self.auth_disabled and not self.token_keys_configured:
            raise AuthNotConfigured(
                "Authentication is on but no token key is configured: set CRM_JWT_ACCESS_SECRET (HS256, at least "
                f"{MIN_HS256_SECRET_BYTES} bytes), CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL (RS256); or, for "
                "development only, CRM_AUTH_DISABLED=true."
            )

    @property
    def permissions_redis(self) -> str | None:
        return self.permissions_redis_url or self.redis_url

    @property
    def celery_broker(self) -> str | None:
        return self.celery_broker_url or self.redis_url

    @property
    def business_zone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)
