"""Access tokens for tests, signed as the Auth service signs them.

The test settings (``tests.conftest.settings``) check HS256 tokens with ``SECRET``; the ``api`` client sends
``admin()`` on every request unless a request names its own ``Authorization``::

    await api.post("/api/v1/clients", json=body, headers=bearer(seller_id, "seller"))
    token(user_id, "ROLE_MANAGER", exp=None)              # claims: any added or replaced, None removes one
    token(user_id, "admin", key=private_pem, algorithm="RS256", headers={"kid": "k1"})
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

SECRET = "crm-test-suite-hs256-secret-0123456789abcdef"
ADMIN_ID = uuid.UUID("00000000-0000-4000-8000-00000000ad31")
LIFETIME_SECONDS = 3600


def token(
    sub: uuid.UUID | str,
    /,
    *roles: str,
    key: str | bytes = SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed JWT for ``sub`` with ``roles`` (names as the token carries them: ``admin`` or ``ROLE_ADMIN``),
    expiring in an hour; ``claims`` add or replace claims (``sub`` and ``roles`` too), and one given as ``None``
    is left out."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": str(sub), "roles": list(roles), "iat": now, "exp": now + LIFETIME_SECONDS}
    payload.update(claims)
    return jwt.encode(
        {name: value for name, value in payload.items() if value is not None}, key, algorithm=algorithm, headers=headers
    )


def bearer(sub: uuid.UUID | str, /, *roles: str, **claims: Any) -> dict[str, str]:
    """Request headers carrying ``token(sub, *roles, **claims)``."""
    return {"Authorization": f"Bearer {token(sub, *roles, **claims)}"}


def admin() -> dict[str, str]:
    """What the ``api`` client sends by default: an admin's token, subject ``ADMIN_ID``."""
    return bearer(ADMIN_ID, "admin")
