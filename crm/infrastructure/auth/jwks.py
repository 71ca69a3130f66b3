"""The issuer's RS256 signing keys, read from its JWK Set (``CRM_JWT_JWKS_URL``) with httpx, never blocking the loop."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK, PyJWTError

from crm.domain.errors import InvalidToken, TokenKeysUnavailable
from crm.infrastructure.auth.keys import MIN_RSA_BITS

log = structlog.get_logger(__name__)

JWKS_TIMEOUT_SECONDS = 5.0


def jwks_http_client() -> httpx.AsyncClient:
    """One client per process, made in the lifespan, for the JWK Set."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(JWKS_TIMEOUT_SECONDS), headers={"Accept": "application/json"}, follow_redirects=False
    )


class JwksKeys:
    """The keys of the issuer's JWK Set, by ``kid``.

    The set is fetched on first use and again once it is ``max_age`` seconds old, or when a token names a ``kid``
    it does not hold (the issuer rotated its keys). Fetches are one at a time and at most one per
    ``refresh_interval`` seconds, so a flood of tokens with made-up ``kid`` values costs the issuer one request per
    interval, not one per token. While the issuer cannot be reached, the keys already fetched keep serving.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        *,
        refresh_interval: float,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = url
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str | None, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> RSAPublicKey:
        """The key named ``kid`` (without a ``kid``: the set's only key)."""
        key = self._find(kid)
        if key is not None and (self._fresh or self._lock.locked()):
            return key  # while another request fetches a new set, the key held serves
        await self._refresh()
        key = self._find(kid)
        if key is not None:
            return key
        if self._fetched_at is None:
            raise TokenKeysUnavailable("The issuer's keys (CRM_JWT_JWKS_URL) could not be fetched; try again shortly.")
        raise InvalidToken("The token's key (kid) is not one the issuer publishes.")

    @property
    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._max_age

    def _find(self, kid: str | None) -> RSAPublicKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            # Whoever waited for the lock while another fetched finds the interval not over and uses that set.
            if self._clock() - self._attempted_at < self._refresh_interval:
                return
            self._attempted_at = self._clock()
            try:
                response = await self._http.get(self._url)
                response.raise_for_status()
                keys = _signing_keys(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("JWK Set not fetched; the keys fetched before stay in use", url=self._url, error=repr(exc))
                return
            if not keys:
                log.warning("the JWK Set holds no RS256 signing key", url=self._url)
            self._keys = keys
            self._fetched_at = self._clock()
            log.info("JWK Set fetched", url=self._url, kids=sorted(str(kid) for kid in keys))


def _signing_keys(document: Any) -> dict[str | None, RSAPublicKey]:
    """The RSA keys for signatures (RS256) of a JWK Set; other keys (encryption, other types, too short) are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK Set (no `keys` list)")
    keys: dict[str | None, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            key = PyJWK(entry, algorithm="RS256").key
        except PyJWTError:
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) else None] = key
    return keys
