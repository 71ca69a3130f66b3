"""Who is calling comes from the access token alone: HS256 tokens, in the header or the cookie, through the shared app.

The shared settings check tokens with ``tests.auth.SECRET`` and a 30-second leeway; RS256, JWK Sets and the
settings' refusals have tests of their own.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from structlog.testing import capture_logs

from tests.apps import running_app
from tests.auth import bearer, token
from tests.factories import assert_problem, make_deal

CLIENTS = "/api/v1/clients"
CHALLENGE = 'Bearer error="invalid_token"'


def refused(response, *, described: bool = True) -> dict:
    """A 401 ``invalid_token`` problem with its challenge; ``error_description`` only when a token was sent."""
    body = assert_problem(response, 401, "invalid_token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(CHALLENGE)
    assert ("error_description=" in challenge) is described, challenge
    return body


def unsigned(claims: dict) -> str:
    """A token with ``alg: none`` and no signature, as an attacker would send it."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_a_bearer_token_names_the_caller_recorded_on_what_they_create(anonymous):
    user = uuid.uuid4()
    response = await anonymous.post(CLIENTS, json={"name": "A"}, headers=bearer(user, "admin"))
    assert response.status_code == 201, response.text
    assert (response.json()["created_by_id"], response.json()["updated_by_id"]) == (str(user), str(user))


async def test_the_access_token_cookie_is_accepted_without_a_header(anonymous):
    user = uuid.uuid4()
    cookie = {"Cookie": f"theme=dark; crm_access_token={token(user, 'manager')}"}
    response = await anonymous.post(CLIENTS, json={"name": "A"}, headers=cookie)
    assert response.status_code == 201, response.text
    assert response.json()["created_by_id"] == str(user)


async def test_the_header_wins_over_the_cookie(anonymous):
    header_user, cookie_user = uuid.uuid4(), uuid.uuid4()
    headers = {**bearer(header_user, "admin"), "Cookie": f"crm_access_token={token(cookie_user, 'admin')}"}
    response = await anonymous.post(CLIENTS, json={"name": "A"}, headers=headers)
    assert response.json()["created_by_id"] == str(header_user)


async def test_a_request_without_a_token_is_401_with_a_bare_challenge(anonymous):
    response = await anonymous.get(CLIENTS)
    body = refused(response, described=False)
    assert response.headers["www-authenticate"] == CHALLENGE
    assert "Authorization: Bearer" in body["detail"]
    assert body["instance"] == CLIENTS
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer"],
    ids=["basic", "no-token", "blank-token", "other-scheme", "lower-case-scheme-alone"],
)
async def test_an_authorization_header_that_is_not_a_bearer_token_is_401(anonymous, authorization):
    refused(await anonymous.get(CLIENTS, headers={"Authorization": authorization}))


async def test_the_bearer_scheme_is_case_insensitive(anonymous):
    response = await anonymous.get(CLIENTS, headers={"Authorization": f"bearer {token(uuid.uuid4(), 'admin')}"})
    assert response.status_code == 200


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.e30"], ids=str)
async def test_a_malformed_token_is_401(anonymous, garbage):
    body = refused(await anonymous.get(CLIENTS, headers={"Authorization": f"Bearer {garbage}"}))
    assert body["detail"] == "The token is malformed."


async def test_an_expired_token_is_401(anonymous):
    expired = bearer(uuid.uuid4(), "admin", exp=int(time.time()) - 120)
    response = await anonymous.get(CLIENTS, headers=expired)
    refused(response)
    assert 'error_description="The token has expired."' in response.headers["www-authenticate"]


async def test_a_token_not_valid_before_a_minute_from_now_is_401(anonymous):
    early = bearer(uuid.uuid4(), "admin", nbf=int(time.time()) + 120)
    assert refused(await anonymous.get(CLIENTS, headers=early))["detail"] == "The token is not valid yet."


async def test_a_clock_a_few_seconds_off_is_within_the_leeway(anonymous):
    now = int(time.time())
    skewed = bearer(uuid.uuid4(), "admin", exp=now - 10, nbf=now + 10, iat=now + 10)
    assert (await anonymous.get(CLIENTS, headers=skewed)).status_code == 200


async def test_a_token_without_exp_is_401(anonymous):
    endless = bearer(uuid.uuid4(), "admin", exp=None)
    assert refused(await anonymous.get(CLIENTS, headers=endless))["detail"] == "The token has no `exp` claim."


async def test_a_token_without_sub_is_401(anonymous):
    nobody = {"Authorization": f"Bearer {token('x', 'admin', sub=None)}"}
    assert refused(await anonymous.get(CLIENTS, headers=nobody))["detail"] == "The token has no `sub` claim."


@pytest.mark.parametrize("sub", ["alice", "12345", ""])
async def test_a_subject_that_is_not_a_uuid_is_401(anonymous, sub):
    refused(await anonymous.get(CLIENTS, headers=bearer(sub, "admin")))


async def test_a_token_signed_with_another_secret_is_401(anonymous):
    forged = {"Authorization": f"Bearer {token(uuid.uuid4(), 'admin', key='another-secret-of-32-bytes-or-more!!')}"}
    assert refused(await anonymous.get(CLIENTS, headers=forged))["detail"] == "The token's signature does not verify."


async def test_an_unsigned_alg_none_token_is_401(anonymous):
    claims = {"sub": str(uuid.uuid4()), "roles": ["admin"], "exp": int(time.time()) + 600}
    response = await anonymous.get(CLIENTS, headers={"Authorization": f"Bearer {unsigned(claims)}"})
    assert refused(response)["detail"] == "The token's algorithm is not accepted."


async def test_a_token_of_an_algorithm_not_configured_is_401(anonymous):
    hs512 = token(uuid.uuid4(), "admin", key="s" * 64, algorithm="HS512")
    refused(await anonymous.get(CLIENTS, headers={"Authorization": f"Bearer {hs512}"}))


async def test_a_seller_sending_x_user_roles_admin_is_still_a_seller(api, anonymous):
    seller_id = uuid.uuid4()
    deal = await make_deal(api, owner_id=str(seller_id))
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    seller = {**bearer(seller_id, "seller"), "X-User-Roles": "admin", "X-User-Id": str(uuid.uuid4())}
    response = await anonymous.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=seller)
    assert_problem(response, 409, "invalid_stage_transition")  # only admins reopen a won deal


@pytest.mark.parametrize("roles", ["ROLE_SELLER ROLE_ADMIN", "seller,admin", "seller, ROLE_ADMIN"])
async def test_roles_given_as_one_string_are_read_too(api, anonymous, roles):
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    admin = bearer(uuid.uuid4(), roles=roles)
    response = await anonymous.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=admin)
    assert response.status_code == 200, response.text


async def test_roles_that_are_not_names_are_401(anonymous):
    refused(await anonymous.get(CLIENTS, headers=bearer(uuid.uuid4(), roles={"admin": True})))


async def test_a_token_without_roles_is_a_caller_with_none(api, anonymous):
    user_id = uuid.uuid4()
    deal = await make_deal(api, owner_id=str(user_id))
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
    no_roles = bearer(user_id, roles=None)
    response = await anonymous.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=no_roles)
    assert_problem(response, 409, "invalid_stage_transition")


async def test_the_token_is_checked_before_the_body_the_path_or_the_method(anonymous):
    refused(
        await anonymous.post(CLIENTS, content=b"{not json", headers={"Content-Type": "application/json"}),
        described=False,
    )
    refused(await anonymous.get("/api/v1/no-such-thing"), described=False)
    refused(await anonymous.put(CLIENTS), described=False)


@pytest.mark.parametrize("path", ["/streams/deals", "/streams"])
async def test_the_deal_stream_needs_a_token(anonymous, path):
    refused(await anonymous.get(path), described=False)
    refused(await anonymous.get(path, headers=bearer(uuid.uuid4(), "admin", exp=int(time.time()) - 120)))


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
async def test_health_readiness_and_the_api_document_need_no_token(anonymous, path):
    assert (await anonymous.get(path)).status_code == 200


async def test_a_token_that_verified_once_is_refused_when_it_expires(anonymous):
    # Remembered answers end when the token does (here: in 1 to 2 s, the 30 s leeway included).
    expires = int(time.time()) - 28
    soon = bearer(uuid.uuid4(), "admin", exp=expires)
    assert (await anonymous.get(CLIENTS, headers=soon)).status_code == 200
    while time.time() < expires + 30:
        time.sleep(0.05)
    refused(await anonymous.get(CLIENTS, headers=soon))


async def test_with_authentication_disabled_every_request_is_an_admin_without_an_id(settings, db):
    development = settings.model_copy(update={"auth_disabled": True, "jwt_access_secret": None})
    with capture_logs() as logs:
        async with running_app(development) as (_, api):
            api.headers.pop("Authorization")
            client = await api.post(CLIENTS, json={"name": "A"})
            assert client.status_code == 201, client.text
            assert client.json()["created_by_id"] is None
            deal = await make_deal(api, client.json()["id"])
            await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"})
            # Only an admin reopens a won deal; a token given is not even looked at.
            reopened = await api.patch(
                f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=bearer("bad", "seller")
            )
            assert reopened.status_code == 200, reopened.text
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert any("AUTHENTICATION IS DISABLED" in event for event in warnings), warnings
