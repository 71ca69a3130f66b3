"""Authentication as the composition root wires it: the token verifier of the settings, and the embedded default's
development secret (which ``crm-api token`` signs with too)."""

from __future__ import annotations

import os
import secrets
from contextlib import AsyncExitStack
from pathlib import Path

import structlog
from pydantic import SecretStr

from crm.app.config import Settings
from crm.domain.caller import TokenVerifier
from crm.infrastructure.auth.jwks import JwksKeys, jwks_http_client
from crm.infrastructure.auth.keys import MIN_HS256_SECRET_BYTES, rsa_public_key
from crm.infrastructure.auth.tokens import JwtVerifier

log = structlog.get_logger(__name__)

DEVELOPMENT_SECRET_FILE = "jwt-development-secret"


async def open_token_verifier(settings: Settings, stack: AsyncExitStack) -> TokenVerifier | None:
    """The verifier of ``settings``' keys (``None`` with authentication disabled); what it opens, ``stack`` closes.
    Refuses (``AuthNotConfigured``) when authentication is on and no key is configured."""
    settings.require_token_keys()
    if settings.auth_disabled:
        log.warning(
            "AUTHENTICATION IS DISABLED (CRM_AUTH_DISABLED=true): no token is checked and every request acts as an "
            "admin. For development only; never run a shared or production service like this."
        )
        return None
    jwks = None
    if settings.jwt_jwks_url:
        http = jwks_http_client()
        stack.push_async_callback(http.aclose)
        jwks = JwksKeys(
            http,
            settings.jwt_jwks_url,
            refresh_interval=settings.jwt_jwks_refresh_interval,
            max_age=settings.jwt_jwks_max_age,
        )
    verifier = JwtVerifier(
        secret=settings.jwt_access_secret.get_secret_value().encode() if settings.jwt_access_secret else None,
        public_key=rsa_public_key(settings.jwt_public_key) if settings.jwt_public_key else None,
        jwks=jwks,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    log.info("access tokens checked", algorithms=sorted(verifier.algorithms), jwks_url=settings.jwt_jwks_url)
    return verifier


def development_secret_path(data_dir: Path) -> Path:
    return data_dir.resolve() / DEVELOPMENT_SECRET_FILE


def development_secret(data_dir: Path) -> SecretStr:
    """The embedded default's HS256 secret: random, made once and kept in ``data_dir`` (mode 0600), so that tokens
    outlive a restart and ``crm-api token`` signs with what ``crm-api`` checks."""
    path = development_secret_path(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # all at once, and only if no other process was first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
        raise RuntimeError(f"{path} holds no usable secret; delete it and start again.")
    return SecretStr(secret)


def with_development_secret(settings: Settings) -> Settings:
    """The embedded default without any key configured checks tokens with its development secret."""
    if settings.database_url is not None or settings.auth_disabled or settings.token_keys_configured:
        return settings
    secret = development_secret(settings.data_dir)
    log.warning(
        "no token key configured: tokens are checked with the embedded default's development secret",
        secret_file=str(development_secret_path(settings.data_dir)),
        get_a_token="crm-api token --sub <your user id, a UUID> --roles admin",
    )
    return settings.model_copy(update={"jwt_access_secret": secret})
