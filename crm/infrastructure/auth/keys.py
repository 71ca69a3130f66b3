"""What a key must be for the tokens this service accepts: checked once when the settings are read."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

# RFC 7518 §3.2: an HS256 key is at least as long as the hash it feeds.
MIN_HS256_SECRET_BYTES = 32
MIN_RSA_BITS = 2048


def rsa_public_key(pem: str) -> RSAPublicKey:
    """The RSA public key of a PEM text (``-----BEGIN PUBLIC KEY-----``); ``ValueError`` saying what is wrong."""
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ValueError("is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("must be an RSA public key (tokens are RS256)")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"must be an RSA key of at least {MIN_RSA_BITS} bits")
    return key
