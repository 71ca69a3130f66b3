"""Inputs a hostile client sends: each is a 4xx naming what is wrong, never a 500 from the database."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from tests.factories import (
    assert_problem,
    make_client,
    make_deal,
    make_payment,
    make_policy,
    make_task,
    payments_url,
)

LONE_SURROGATE = "\ud800"


async def send_json(api: httpx.AsyncClient, method: str, url: str, body: object) -> httpx.Response:
    """``body`` as ASCII JSON, so a lone surrogate travels as the escape ``\\ud800`` (httpx would refuse it)."""
    return await api.request(method, url, content=json.dumps(body), headers={"Content-Type": "application/json"})


# --- Text PostgreSQL cannot store --------------------------------------------------------------------


async def _text_routes(api) -> list[tuple[str, str, str, dict]]:
    """(method, url, field, body without the field) for every route taking a free-text field."""
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    payment = await make_payment(api, policy)
    task = await make_task(api)
    calculation = (
        await api.post(
            f"/api/v1/deals/{deal['id']}/calculations",
            json={"insurance_company": "Ingosstrakh", "calculation_date": "2026-01-10"},
        )
    ).json()
    line = {"amount": "-10.00", "category": "refund", "posted_at": "2026-01-10"}
    return [
        ("POST", "/api/v1/clients", "name", {}),
        ("POST", "/api/v1/clients", "email", {"name": "A"}),
        ("PATCH", f"/api/v1/clients/{deal['client_id']}", "name", {}),
        ("POST", "/api/v1/deals", "title", {"client_id": deal["client_id"], "next_review_at": "2026-01-10"}),
        ("PATCH", f"/api/v1/deals/{deal['id']}", "description", {}),
        ("POST", f"/api/v1/deals/{deal['id']}/journal", "body", {}),
        ("POST", "/api/v1/tasks", "title", {}),
        ("PATCH", f"/api/v1/tasks/{task['id']}", "description", {}),
        ("PATCH", f"/api/v1/tasks/{task['id']}", "cancelled_reason", {"status": "cancelled"}),
        (
            "POST",
            f"/api/v1/deals/{deal['id']}/calculations",
            "insurance_company",
            {"calculation_date": "2026-01-10"},
        ),
        ("PATCH", f"/api/v1/deals/{deal['id']}/calculations/{calculation['id']}", "comments", {}),
        (
            "POST",
            "/api/v1/policies",
            "policy_number",
            {
                "client_id": deal["client_id"],
                "deal_id": deal["id"],
                "premium": "1.00",
                "effective_from": "2026-01-01",
                "effective_to": "2026-12-31",
            },
        ),
        ("PATCH", payments_url(policy, payment["id"]), "comment", {}),
        ("POST", payments_url(policy, payment["id"], "incomes"), "note", line),
        ("POST", payments_url(policy, payment["id"], "expenses"), "note", line),
    ]


async def test_a_lone_surrogate_in_any_text_field_is_a_field_error(api):
    for method, url, field, body in await _text_routes(api):
        response = await send_json(api, method, url, {**body, field: f"a{LONE_SURROGATE}b"})
        problem = assert_problem(response, 422, "validation_error", field)
        assert "surrogate" in problem["errors"][0]["message"], (method, url, problem)


async def test_a_lone_surrogate_in_a_calculation_file_is_a_field_error(api):
    deal = await make_deal(api)
    body = {"insurance_company": "Ingosstrakh", "calculation_date": "2026-01-10", "files": [LONE_SURROGATE]}
    response = await send_json(api, "POST", f"/api/v1/deals/{deal['id']}/calculations", body)
    assert_problem(response, 422, "validation_error", "files.0")


@pytest.mark.parametrize("where", ["key", "value"])
async def test_a_lone_surrogate_in_task_json_is_a_field_error(api, where):
    context = {LONE_SURROGATE: 1} if where == "key" else {"k": ["x", LONE_SURROGATE]}
    response = await send_json(api, "POST", "/api/v1/tasks", {"title": "t", "context": context})
    assert_problem(response, 422, "validation_error", "context")


async def test_a_nul_in_any_text_field_is_still_a_field_error(api):
    for method, url, field, body in await _text_routes(api):
        response = await api.request(method, url, json={**body, field: "a\x00b"})
        assert_problem(response, 422, "validation_error", field)


async def test_text_is_trimmed_but_its_length_is_the_length_sent(api):
    client = await make_client(api, name="  Acme  ")
    assert client["name"] == "Acme"
    response = await api.post("/api/v1/clients", json={"name": " " * 255 + "A"})
    assert_problem(response, 422, "validation_error", "name")
    assert_problem(await api.post("/api/v1/clients", json={"name": " \t "}), 422, "validation_error", "name")
    client = await make_client(api, email=" office@acme.example ", phone=" +7 495 123-45-67 ")
    assert (client["email"], client["phone"]) == ("office@acme.example", "+7 495 123-45-67")


# --- Instants outside years 1-9999 in UTC, and numbers sent as dates -------------------------------------

OVERFLOWING_INSTANTS = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("instant", OVERFLOWING_INSTANTS)
async def test_an_instant_beyond_year_9999_in_utc_is_a_field_error(api, instant):
    task = await make_task(api)
    cases = [
        ("POST", "/api/v1/tasks", {"title": "t", "due_at": instant}, "due_at"),
        ("POST", "/api/v1/tasks", {"title": "t", "scheduled_for": instant}, "scheduled_for"),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"due_at": instant}, "due_at"),
        ("POST", f"/api/v1/tasks/{task['id']}/schedule", {"scheduled_for": instant}, "scheduled_for"),
        ("POST", f"/api/v1/tasks/{task['id']}/reminders", {"remind_at": instant, "channel": "sse"}, "remind_at"),
    ]
    for method, url, body, field in cases:
        assert_problem(await api.request(method, url, json=body), 422, "validation_error", field)


@pytest.mark.parametrize("name", ["due_before", "due_after", "dueBefore", "dueAfter"])
@pytest.mark.parametrize("instant", OVERFLOWING_INSTANTS)
async def test_a_task_filter_beyond_year_9999_in_utc_is_a_field_error(api, name, instant):
    response = await api.get("/api/v1/tasks", params={name: instant})
    assert_problem(response, 422, "validation_error", name)


@pytest.mark.parametrize("instant", ["1767225600", "2026-12-01T09:00:00", "2026-12-01", "2026-12-01T09:00+03:00"])
async def test_an_instant_must_be_written_with_seconds_and_an_offset(api, instant):
    response = await api.post("/api/v1/tasks", json={"title": "t", "due_at": instant})
    assert_problem(response, 422, "validation_error", "due_at")


@pytest.mark.parametrize("number", [0, 1767225600, 1.5, True])
async def test_a_number_is_not_a_date(api, number):
    client = await make_client(api)
    deal = {"client_id": client["id"], "title": "t", "next_review_at": number}
    assert_problem(await api.post("/api/v1/deals", json=deal), 422, "validation_error", "next_review_at")
    response = await api.post("/api/v1/tasks", json={"title": "t", "due_at": number})
    assert_problem(response, 422, "validation_error", "due_at")


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-02-30", "2026-12-01T00:00:00", "20261201"])
async def test_a_day_is_yyyy_mm_dd_with_a_day_to_spare_on_each_side(api, day):
    deal = await make_deal(api)
    calculations = f"/api/v1/deals/{deal['id']}/calculations"
    body = {"insurance_company": "I", "calculation_date": "2026-01-10", "validity_period": {"end": day}}
    assert_problem(await api.post(calculations, json=body), 422, "validation_error", "validity_period.end")
    response = await api.get(calculations, params={"calculation_date_to": day})
    assert_problem(response, 422, "validation_error", "calculation_date_to")
    response = await api.get("/api/v1/policies", params={"expiring_before": day})
    assert_problem(response, 422, "validation_error", "expiring_before")


# --- Cursors nobody issued -----------------------------------------------------------------------------


async def _list_urls(api) -> list[str]:
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    payment = await make_payment(api, policy)
    return [
        "/api/v1/clients",
        "/api/v1/deals",
        "/api/v1/policies",
        "/api/v1/tasks",
        f"/api/v1/deals/{deal['id']}/calculations",
        f"/api/v1/deals/{deal['id']}/journal",
        f"/api/v1/policies/{policy['id']}/documents",
        payments_url(policy),
        payments_url(policy, payment["id"], "incomes"),
        payments_url(policy, payment["id"], "expenses"),
        payments_url(policy, payment["id"], "history"),
    ]


def _well_typed_forgeries() -> list[str]:
    """Cursors shaped exactly as the lists' own, with values asyncpg cannot send."""
    from uuid import uuid4

    from crm.domain.pagination import encode_cursor

    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    kinds = {
        "clients": (far, uuid4()),
        "deals": (date(2026, 1, 1), far, uuid4()),
        "policies": (far, uuid4()),
        "tasks": (far, far, uuid4()),
        "calculations": (far, uuid4()),
        "deal_journal": (far, uuid4()),
        "policy_documents": (far, uuid4()),
        "payments": (2**40, uuid4()),
        "payment_incomes": (date(2026, 1, 1), far, uuid4()),
        "payment_expenses": (date(2026, 1, 1), far, uuid4()),
        "payment_history": (2**70,),
    }
    return [encode_cursor(kind, key) for kind, key in kinds.items()]


async def test_a_forged_well_typed_cursor_is_400_on_every_list(api):
    for url in await _list_urls(api):
        for cursor in _well_typed_forgeries():
            response = await api.get(url, params={"cursor": cursor})
            assert_problem(response, 400, "invalid_cursor", "cursor")


async def test_a_cursor_with_an_altered_key_is_400(api):
    for _ in range(3):
        await make_client(api)
    signed = (await api.get("/api/v1/clients", params={"limit": 1})).json()["next_cursor"]
    cursor, _, mac = signed.rpartition(".")
    forged = _well_typed_forgeries()[0]
    for candidate in (cursor, f"{forged}.{mac}", f"{cursor}.{mac[::-1]}"):
        response = await api.get("/api/v1/clients", params={"cursor": candidate})
        assert_problem(response, 400, "invalid_cursor", "cursor")
    assert (await api.get("/api/v1/clients", params={"cursor": signed})).status_code == 200


# --- Query values read exactly as the document states them ------------------------------------------------


@pytest.mark.parametrize(("include", "status"), [(" incomes , expenses ", 200), (",incomes,,", 200), ("notes", 422)])
async def test_include_is_read_as_its_documented_pattern(api, include, status):
    policy = await make_policy(api)
    response = await api.get(payments_url(policy), params={"include": include})
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("manager", "status"), [("__NO_MANAGER__", 200), ("6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11", 200)]
)
async def test_manager_takes_a_uuid_or_the_unassigned_marker(api, manager, status):
    assert (await api.get("/api/v1/deals", params={"manager": manager})).status_code == status


async def test_a_body_that_is_not_utf8_is_a_400_bad_request(api):
    response = await api.post(
        "/api/v1/clients", content=b'{"name": "\xfb\xe7"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "bad_request")
