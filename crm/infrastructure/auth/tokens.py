"""Access tokens checked with PyJWT: HS256 with the shared secret, RS256 with a public key or the issuer's JWK Set.

Only the algorithms a key is configured for are accepted, each with its own kind of key: ``none`` never, and an
RS256 public key is never taken for an HS256 secret. A verified token is remembered (by its SHA-256) until it
expires, so a client sending the same token on every request pays for the signature once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from crm.domain.caller import AccessToken, Role, roles_of
from crm.domain.errors import InvalidToken
from crm.infrastructure.auth.jwks import JwksKeys

CACHE_SIZE = 4096
CACHE_SECONDS = 300.0  # a key withdrawn by the issuer stops verifying a remembered token after this long at most

_ROLE_SEPARATORS = re.compile(r"[\s,]+")

# What a client is told about a refused token: fixed sentences, never the library's text (nor the token).
_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAudienceError, "The token is meant for another audience."),
    (jwt.InvalidIssuerError, "The token comes from an issuer this service does not trust."),
    (jwt.InvalidSignatureError, "The token's signature does not verify."),
    (jwt.InvalidAlgorithmError, "The token's algorithm is not accepted."),
    (jwt.DecodeError, "The token is malformed."),
)


@dataclass(frozen=True, slots=True)
class _Remembered:
    token: AccessToken
    until: float


class JwtVerifier:
    """Verifies access tokens (``crm.domain.caller.TokenVerifier``); at least one of the keys must be given."""

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        public_key: RSAPublicKey | None = None,
        jwks: JwksKeys | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._public_key = public_key
        self._jwks = jwks
        self._algorithms = frozenset(
            (["HS256"] if secret is not None else [])
            + (["RS256"] if public_key is not None or jwks is not None else [])
        )
        if not self._algorithms:
            raise ValueError("a token verifier needs a secret, a public key or a JWK Set")
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self._jwt = jwt.PyJWT(
            {
                "require": ["exp", "sub", *(["iss"] if issuer else []), *(["aud"] if audience else [])],
                # Without a configured audience a token's `aud` is not this service's business.
                "verify_aud": audience is not None,
                "enforce_minimum_key_length": True,
            }
        )
        self._remembered: OrderedDict[bytes, _Remembered] = OrderedDict()

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    async def verify(self, token: str) -> AccessToken:
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        remembered = self._remembered.get(digest)
        if remembered is not None:
            if now < remembered.until:
                self._remembered.move_to_end(digest)
                return remembered.token
            del self._remembered[digest]
        verified = _access_token(await self._claims(token))
        # PyJWT refuses once `exp <= now - leeway`: the same instant ends the remembered answer.
        self._remembered[digest] = _Remembered(verified, min(verified.expires_at + self._leeway, now + CACHE_SECONDS))
        if len(self._remembered) > CACHE_SIZE:
            self._remembered.popitem(last=False)
        return verified

    async def _claims(self, token: str) -> dict[str, Any]:
        header = _unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise InvalidToken("The token's algorithm is not accepted.")
        key = await self._key(algorithm, header.get("kid"))
        try:
            return self._jwt.decode(
                token, key, algorithms=[algorithm], issuer=self._issuer, audience=self._audience, leeway=self._leeway
            )
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The token has no `{exc.claim}` claim.") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(_refusal(exc)) from None

    async def _key(self, algorithm: str, kid: object) -> bytes | RSAPublicKey:
        if algorithm == "HS256" and self._secret is not None:
            return self._secret
        if self._jwks is not None and (kid is not None or self._public_key is None):
            return await self._jwks.key(kid if isinstance(kid, str) else None)
        if self._public_key is not None:
            return self._public_key
        raise InvalidToken("The token's algorithm is not accepted.")


def _unverified_header(token: str) -> dict[str, Any]:
    """The header's ``alg`` and ``kid``, to pick the key PyJWT then checks the whole token with (header included).
    Read here because ``jwt.get_unverified_header`` parses the token as thoroughly as the decode that follows."""
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidToken("The token is malformed.") from None
    if not isinstance(header, dict):
        raise InvalidToken("The token is malformed.")
    return header


def _refusal(exc: jwt.PyJWTError) -> str:
    for kind, sentence in _REFUSALS:
        if isinstance(exc, kind):
            return sentence
    return "The token is invalid."


def _access_token(claims: dict[str, Any]) -> AccessToken:
    try:
        subject = UUID(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidToken("The token's `sub` is not a user id (a UUID).") from None
    email = claims.get("email")
    return AccessToken(
        subject=subject,
        roles=_roles(claims.get("roles")),
        expires_at=int(claims["exp"]),
        email=email if isinstance(email, str) else None,
    )


def _roles(claimed: object) -> frozenset[Role]:
    """``roles`` as a list of names, or tolerated as one string of names separated by spaces or commas."""
    if claimed is None:
        return frozenset()
    if isinstance(claimed, str):
        return roles_of(_ROLE_SEPARATORS.split(claimed))
    if isinstance(claimed, list) and all(isinstance(name, str) for name in claimed):
        return roles_of(claimed)
    raise InvalidToken("The token's `roles` claim is not a list of role names.")


def issue_token(
    secret: bytes,
    *,
    subject: UUID,
    roles: list[Role],
    email: str | None,
    lifetime: timedelta,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 access token as the Auth service issues them, for development and tests (``crm-api token``)."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(subject),
        "roles": [role.value for role in roles],
        "iat": now,
        "exp": now + lifetime,
    }
    if email:
        claims["email"] = email
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
