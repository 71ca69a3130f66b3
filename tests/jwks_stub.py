"""An issuer's RSA signing keys, and a real HTTP server publishing them as a JWK Set (as an Auth service does).

``JwksStub.keys`` is what the next ``GET /.well-known/jwks.json`` answers (change it to rotate keys);
``requests`` counts the fetches; ``stop()`` shuts the server down, so its port refuses connections afterwards.
"""

from __future__ import annotations

import copy
import json
import uuid
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.auth import token
from tests.stub_server import StubServer

JWKS_PATH = "/.well-known/jwks.json"


class SigningKey:
    """An RSA key pair of the issuer; ``kid`` names it in the JWK Set and in the tokens it signs."""

    def __init__(self, kid: str | None = None, bits: int = 2048) -> None:
        self.kid = kid
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    @cached_property
    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @cached_property
    def public_pem(self) -> str:
        public = self._private.public_key()
        return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def named(self, kid: str | None) -> SigningKey:
        """The same key pair under another ``kid`` (one the JWK Set may not know)."""
        renamed = copy.copy(self)
        renamed.kid = kid
        return renamed

    def jwk(self) -> dict[str, Any]:
        entry: dict[str, Any] = RSAAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        entry.update(use="sig", alg="RS256")
        if self.kid is not None:
            entry["kid"] = self.kid
        return entry

    def token(self, sub: uuid.UUID | str, /, *roles: str, **claims: Any) -> str:
        headers = {"kid": self.kid} if self.kid is not None else None
        return token(sub, *roles, key=self.private_pem, algorithm="RS256", headers=headers, **claims)

    def bearer(self, sub: uuid.UUID | str, /, *roles: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, *roles, **claims)}"}


class JwksStub(StubServer):
    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        super().__init__(self._handler(), "jwks-stub")

    @property
    def url(self) -> str:
        return f"{self.origin}{JWKS_PATH}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests += 1
                found = self.path == JWKS_PATH
                payload = json.dumps({"keys": [key.jwk() for key in stub.keys]} if found else {}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
