"""RS256 access tokens: checked with a configured public key, or with the issuer's JWK Set served by a real HTTP
server (``tests.jwks_stub``), fetched again when a token names a key it has not seen, never more than the refresh
interval allows."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from crm.app.config import Settings
from tests.apps import running_app
from tests.auth import bearer
from tests.factories import assert_problem
from tests.jwks_stub import JwksStub, SigningKey

CLIENTS = "/api/v1/clients"
ISSUER = "https://auth.crm.test"
AUDIENCE = "crm"


@pytest.fixture(scope="module")
def issuer_key() -> SigningKey:
    return SigningKey("key-1")


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey("key-2")


def rs256_settings(settings: Settings, **update: object) -> Settings:
    """``settings`` with RS256 alone: no HS256 secret."""
    return settings.model_copy(update={"jwt_access_secret": None, **update})


@pytest.fixture(scope="module")
async def pem_api(settings: Settings, issuer_key: SigningKey) -> AsyncIterator[httpx.AsyncClient]:
    """An app checking RS256 tokens with the issuer's public key (PEM), its issuer and its audience."""
    configured = rs256_settings(
        settings, jwt_public_key=issuer_key.public_pem, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    )
    async with running_app(configured) as (_, client):
        client.headers.pop("Authorization")
        yield client


def claims(**more: object) -> dict[str, object]:
    return {"iss": ISSUER, "aud": AUDIENCE, **more}


def hs256_forged_with(secret: bytes, payload: dict[str, object]) -> str:
    """An HS256 token whose HMAC key is ``secret`` (here: the public key anyone can read), made by hand as an
    attacker would (PyJWT itself refuses to sign with a PEM as an HMAC secret)."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{part(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


async def test_a_token_signed_with_the_issuers_key_is_accepted(pem_api, issuer_key, db):
    user = uuid.uuid4()
    response = await pem_api.post(CLIENTS, json={"name": "A"}, headers=issuer_key.bearer(user, "admin", **claims()))
    assert response.status_code == 201, response.text
    assert response.json()["created_by_id"] == str(user)


async def test_a_token_signed_with_another_rsa_key_is_401(pem_api, other_key, db):
    response = await pem_api.get(CLIENTS, headers=other_key.bearer(uuid.uuid4(), "admin", **claims()))
    assert assert_problem(response, 401, "invalid_token")["detail"] == "The token's signature does not verify."


async def test_an_hs256_token_keyed_with_the_public_key_is_401(pem_api, issuer_key, db):
    payload = {"sub": str(uuid.uuid4()), "roles": ["admin"], "exp": int(time.time()) + 600, **claims()}
    forged = hs256_forged_with(issuer_key.public_pem.encode(), payload)
    response = await pem_api.get(CLIENTS, headers={"Authorization": f"Bearer {forged}"})
    assert assert_problem(response, 401, "invalid_token")["detail"] == "The token's algorithm is not accepted."


async def test_an_hs256_token_is_401_when_only_rs256_is_configured(pem_api, db):
    response = await pem_api.get(CLIENTS, headers=bearer(uuid.uuid4(), "admin", **claims()))
    assert_problem(response, 401, "invalid_token")


@pytest.mark.parametrize(
    ("wrong", "detail"),
    [
        ({"aud": "billing"}, "The token is meant for another audience."),
        ({"aud": ["billing", "reports"]}, "The token is meant for another audience."),
        ({"iss": "https://evil.example"}, "The token comes from an issuer this service does not trust."),
        ({"aud": None}, "The token has no `aud` claim."),
        ({"iss": None}, "The token has no `iss` claim."),
    ],
    ids=["other-audience", "other-audiences", "other-issuer", "no-audience", "no-issuer"],
)
async def test_a_token_for_another_issuer_or_audience_is_401(pem_api, issuer_key, db, wrong, detail):
    response = await pem_api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin", **claims(**wrong)))
    assert assert_problem(response, 401, "invalid_token")["detail"] == detail


async def test_one_of_several_audiences_may_be_this_service(pem_api, issuer_key, db):
    many = issuer_key.bearer(uuid.uuid4(), "admin", **claims(aud=["billing", AUDIENCE]))
    assert (await pem_api.get(CLIENTS, headers=many)).status_code == 200


# --- JWK Set --------------------------------------------------------------------------------------


@pytest.fixture
def jwks(issuer_key: SigningKey) -> Iterator[JwksStub]:
    stub = JwksStub(issuer_key).start()
    yield stub
    stub.stop()


async def test_a_token_is_checked_with_the_key_its_kid_names_in_the_jwk_set(settings, jwks, issuer_key, db):
    async with running_app(rs256_settings(settings, jwt_jwks_url=jwks.url)) as (_, api):
        user = uuid.uuid4()
        response = await api.post(CLIENTS, json={"name": "A"}, headers=issuer_key.bearer(user, "manager"))
        assert response.status_code == 201, response.text
        assert response.json()["created_by_id"] == str(user)
        assert (await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))).status_code == 200
    assert jwks.requests == 1  # fetched once, then kept


async def test_a_rotated_key_is_fetched_when_a_token_first_names_it(settings, jwks, issuer_key, other_key, db):
    configured = rs256_settings(settings, jwt_jwks_url=jwks.url, jwt_jwks_refresh_interval=0.3)
    async with running_app(configured) as (_, api):
        assert (await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))).status_code == 200
        jwks.keys = [other_key]  # the issuer rotates: key-1 withdrawn, key-2 published
        await asyncio.sleep(0.35)
        # Many requests with the new kid at once: one fetch serves them all.
        answers = await asyncio.gather(
            *(api.get(CLIENTS, headers=other_key.bearer(uuid.uuid4(), "admin")) for _ in range(10))
        )
        assert [a.status_code for a in answers] == [200] * 10
        assert jwks.requests == 2
        await asyncio.sleep(0.35)
        withdrawn = await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))
        assert_problem(withdrawn, 401, "invalid_token")


async def test_made_up_kids_do_not_make_the_service_hammer_the_issuer(settings, jwks, issuer_key, db):
    async with running_app(rs256_settings(settings, jwt_jwks_url=jwks.url, jwt_jwks_refresh_interval=60)) as (_, api):
        assert (await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))).status_code == 200
        for _ in range(30):
            bogus = issuer_key.named(f"bogus-{uuid.uuid4()}")
            response = await api.get(CLIENTS, headers=bogus.bearer(uuid.uuid4(), "admin"))
            assert assert_problem(response, 401, "invalid_token")["detail"] == (
                "The token's key (kid) is not one the issuer publishes."
            )
    assert jwks.requests == 1


async def test_a_token_without_kid_uses_the_only_key_of_the_set(settings, jwks, db):
    anonymous_key = SigningKey(kid=None)
    jwks.keys = [anonymous_key]
    async with running_app(rs256_settings(settings, jwt_jwks_url=jwks.url)) as (_, api):
        assert (await api.get(CLIENTS, headers=anonymous_key.bearer(uuid.uuid4(), "admin"))).status_code == 200


async def test_an_issuer_out_of_reach_before_its_keys_were_ever_fetched_is_503(settings, jwks, issuer_key, db):
    jwks.stop()
    async with running_app(rs256_settings(settings, jwt_jwks_url=jwks.url)) as (_, api):
        response = await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))
        assert_problem(response, 503, "token_keys_unavailable")
        assert response.headers["retry-after"]


async def test_keys_already_fetched_keep_serving_while_the_issuer_is_away(settings, jwks, issuer_key, db):
    configured = rs256_settings(settings, jwt_jwks_url=jwks.url, jwt_jwks_refresh_interval=0.1, jwt_jwks_max_age=0.1)
    async with running_app(configured) as (_, api):
        assert (await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))).status_code == 200
        jwks.stop()
        await asyncio.sleep(0.2)  # the set is now older than its max age: a fetch is tried, and fails
        assert (await api.get(CLIENTS, headers=issuer_key.bearer(uuid.uuid4(), "admin"))).status_code == 200
