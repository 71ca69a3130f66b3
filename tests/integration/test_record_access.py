"""Who may see and change what: every route answered for every kind of caller, and lists holding exactly the
records the caller sees.

The world: a seller (``owner``) owns a client, its deal, a policy with a payment and an income, a calculation,
a journal entry and two tasks of the deal (one assigned to the owner, one to the executor on the team). The
other callers stand apart from it in every way the rules distinguish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import make_policy
from tests.integration.access_support import ROLES, User, as_user
from tests.values import at, day

API = "/api/v1"


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, str]
    deal: dict[str, Any]
    client: dict[str, Any]
    policy: dict[str, Any]
    payment: dict[str, Any]
    calculation: dict[str, Any]

    @property
    def payments(self) -> str:
        return f"{API}/deals/{self.deal['id']}/policies/{self.policy['id']}/payments"


def users() -> dict[str, User]:
    return {role: User(uuid.uuid4(), role) for role in ROLES}


async def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def build_world(api: httpx.AsyncClient) -> World:
    people = users()
    owner = as_user(people["owner"])
    client = await ok(await api.post(f"{API}/clients", json={"name": "Acme"}, headers=owner))
    deal = await ok(
        await api.post(
            f"{API}/deals",
            json={"client_id": client["id"], "title": "Fleet", "next_review_at": day(10)},
            headers=owner,
        )
    )
    await ok(
        await api.post(
            f"{API}/deals/{deal['id']}/members",
            json={"user_id": str(people["executor_on"].id), "role": "executor"},
            headers=owner,
        )
    )
    policy = await make_policy(api, deal, owner_id=str(people["owner"].id))
    payments = f"{API}/deals/{deal['id']}/policies/{policy['id']}/payments"
    payment = await ok(
        await api.post(payments, json={"planned_date": day(30), "planned_amount": "1000.00"}, headers=owner)
    )
    income = await ok(
        await api.post(
            f"{payments}/{payment['id']}/incomes",
            json={"amount": "100.00", "category": "premium", "posted_at": day(0)},
            headers=owner,
        )
    )
    calculation = await ok(
        await api.post(
            f"{API}/deals/{deal['id']}/calculations",
            json={"insurance_company": "RESO", "calculation_date": day(0)},
            headers=owner,
        )
    )
    await ok(await api.post(f"{API}/deals/{deal['id']}/journal", json={"body": "Called"}, headers=owner))
    task_owner = await ok(
        await api.post(
            f"{API}/tasks",
            json={"title": "Call", "deal_id": deal["id"], "assignee_id": str(people["owner"].id)},
            headers=owner,
        )
    )
    task_executor = await ok(
        await api.post(
            f"{API}/tasks",
            json={"title": "Inspect", "deal_id": deal["id"], "assignee_id": str(people["executor_on"].id)},
            headers=owner,
        )
    )
    ids = {
        "income": income["id"],
        "task_owner": task_owner["id"],
        "task_executor": task_executor["id"],
        "document": str(uuid.uuid4()),
    }
    return World(people, ids, deal, client, policy, payment, calculation)


# What each kind of caller gets, by the kind of access a route needs ("ok" is the route's success answer).
SEE = {
    "admin": "ok",
    "manager": "ok",
    "owner": "ok",
    "stranger": 404,
    "executor_on": "ok",
    "executor_off": 404,
    "anonymous": 401,
}
CHANGE = {**SEE, "executor_on": 403}
TEAM = SEE  # the journal: whoever sees the deal writes it
CLIENT_CHANGE = CHANGE
ADMIN_ONLY = {**dict.fromkeys(SEE, 403), "admin": "ok", "anonymous": 401}
PRIVILEGED = {**ADMIN_ONLY, "manager": "ok"}
CREATE = {**SEE, "stranger": "ok", "executor_on": 403, "executor_off": 403}
ANYONE = {**dict.fromkeys(SEE, "ok"), "anonymous": 401}
NEW_DEAL_OF_CLIENT = {**CREATE, "stranger": 404}
OWN_TASK = {**SEE, "executor_on": "ok"}
ASSIGN_TASK = CHANGE


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: Callable[[World], str]
    expect: dict[str, Any]
    success: int = 200
    body: Callable[[World], Any] | None = None


def _deal(w: World) -> str:
    return f"{API}/deals/{w.deal['id']}"


def _payment(w: World) -> str:
    return f"{w.payments}/{w.payment['id']}"


def _income(w: World) -> str:
    return f"{_payment(w)}/incomes/{w.ids['income']}"


# In order: nothing before the last few takes anything away from anyone.
CALLS = [
    Call("get client", "GET", lambda w: f"{API}/clients/{w.client['id']}", SEE),
    Call(
        "patch client",
        "PATCH",
        lambda w: f"{API}/clients/{w.client['id']}",
        CLIENT_CHANGE,
        body=lambda w: {"name": "Acme"},
    ),
    Call("delete client with open deals", "DELETE", lambda w: f"{API}/clients/{w.client['id']}", CLIENT_CHANGE, 409),
    Call("restore live client", "POST", lambda w: f"{API}/clients/{w.client['id']}/restore", CLIENT_CHANGE),
    Call("create client", "POST", lambda w: f"{API}/clients", CREATE, 201, body=lambda w: {"name": "New"}),
    Call("get deal", "GET", _deal, SEE),
    Call("patch deal", "PATCH", _deal, CHANGE, body=lambda w: {"title": "Fleet"}),
    Call("change stage", "PATCH", lambda w: f"{_deal(w)}/stage", CHANGE, body=lambda w: {"stage": "qualification"}),
    Call("delete deal with policies", "DELETE", _deal, CHANGE, 409),
    Call("restore live deal", "POST", lambda w: f"{_deal(w)}/restore", CHANGE),
    Call(
        "create deal for the client",
        "POST",
        lambda w: f"{API}/deals",
        NEW_DEAL_OF_CLIENT,
        201,
        body=lambda w: {"client_id": w.client["id"], "title": "More", "next_review_at": day(5)},
    ),
    Call("stage metrics", "GET", lambda w: f"{API}/deals/stage-metrics", ANYONE),
    Call("list team", "GET", lambda w: f"{_deal(w)}/members", SEE),
    Call(
        "add team member",
        "POST",
        lambda w: f"{_deal(w)}/members",
        CHANGE,
        201,
        body=lambda w: {"user_id": str(uuid.uuid4()), "role": "co_owner"},
    ),
    Call("list calculations", "GET", lambda w: f"{_deal(w)}/calculations", SEE),
    Call(
        "create calculation",
        "POST",
        lambda w: f"{_deal(w)}/calculations",
        CHANGE,
        201,
        body=lambda w: {"insurance_company": "Ingosstrakh", "calculation_date": day(0)},
    ),
    Call("get calculation", "GET", lambda w: f"{_deal(w)}/calculations/{w.calculation['id']}", SEE),
    Call(
        "patch calculation",
        "PATCH",
        lambda w: f"{_deal(w)}/calculations/{w.calculation['id']}",
        CHANGE,
        body=lambda w: {"insurance_company": "RESO"},
    ),
    Call("list journal", "GET", lambda w: f"{_deal(w)}/journal", SEE),
    Call("append journal", "POST", lambda w: f"{_deal(w)}/journal", TEAM, 201, body=lambda w: {"body": "Note"}),
    Call("get policy", "GET", lambda w: f"{API}/policies/{w.policy['id']}", SEE),
    Call(
        "patch policy",
        "PATCH",
        lambda w: f"{API}/policies/{w.policy['id']}",
        CHANGE,
        body=lambda w: {"policy_number": w.policy["policy_number"]},
    ),
    Call("delete policy with payments", "DELETE", lambda w: f"{API}/policies/{w.policy['id']}", CHANGE, 409),
    Call("restore live policy", "POST", lambda w: f"{API}/policies/{w.policy['id']}/restore", CHANGE),
    Call("list documents", "GET", lambda w: f"{API}/policies/{w.policy['id']}/documents", SEE),
    Call(
        "link document",
        "POST",
        lambda w: f"{API}/policies/{w.policy['id']}/documents",
        CHANGE,
        201,
        body=lambda w: {"document_id": w.ids["document"]},
    ),
    Call("list payments", "GET", lambda w: w.payments, SEE),
    Call(
        "create payment",
        "POST",
        lambda w: w.payments,
        CHANGE,
        201,
        body=lambda w: {"planned_date": day(60), "planned_amount": "500.00"},
    ),
    Call("get payment", "GET", _payment, SEE),
    Call("patch payment", "PATCH", _payment, CHANGE, body=lambda w: {"planned_amount": "1000.00"}),
    Call("delete payment with lines", "DELETE", _payment, CHANGE, 409),
    Call("restore live payment", "POST", lambda w: f"{_payment(w)}/restore", CHANGE),
    Call("cancel payment", "POST", lambda w: f"{_payment(w)}/cancel", ADMIN_ONLY),
    Call("reopen payment", "POST", lambda w: f"{_payment(w)}/reopen", ADMIN_ONLY),
    Call("payment history", "GET", lambda w: f"{_payment(w)}/history", SEE),
    Call("list incomes", "GET", lambda w: f"{_payment(w)}/incomes", SEE),
    Call(
        "create income",
        "POST",
        lambda w: f"{_payment(w)}/incomes",
        CHANGE,
        201,
        body=lambda w: {"amount": "50.00", "category": "commission", "posted_at": day(0)},
    ),
    Call("get income", "GET", _income, SEE),
    Call("patch income", "PATCH", _income, CHANGE, body=lambda w: {"amount": "100.00"}),
    Call("restore live income", "POST", lambda w: f"{_income(w)}/restore", CHANGE),
    Call("get task of the deal", "GET", lambda w: f"{API}/tasks/{w.ids['task_owner']}", SEE),
    Call(
        "patch the owner's task",
        "PATCH",
        lambda w: f"{API}/tasks/{w.ids['task_owner']}",
        CHANGE,
        body=lambda w: {"title": "Call"},
    ),
    Call(
        "patch the executor's task",
        "PATCH",
        lambda w: f"{API}/tasks/{w.ids['task_executor']}",
        OWN_TASK,
        body=lambda w: {"title": "Inspect"},
    ),
    Call(
        "remind of the owner's task",
        "POST",
        lambda w: f"{API}/tasks/{w.ids['task_owner']}/reminders",
        CHANGE,
        201,
        body=lambda w: {"remind_at": at(1), "channel": "sse"},
    ),
    Call("create own task", "POST", lambda w: f"{API}/tasks", ANYONE, 201, body=lambda w: {"title": "Mine"}),
    Call(
        "assign a task of the deal to someone else",
        "POST",
        lambda w: f"{API}/tasks",
        ASSIGN_TASK,
        201,
        body=lambda w: {"title": "Theirs", "deal_id": w.deal["id"], "assignee_id": str(uuid.uuid4())},
    ),
    Call(
        "request permission sync",
        "POST",
        lambda w: f"{API}/permissions/sync",
        PRIVILEGED,
        503,  # no queue configured in the tests' app: the privileged get as far as the queue
        body=lambda w: {
            "owner_type": "deal",
            "owner_id": w.deal["id"],
            "users": [{"user_id": str(uuid.uuid4()), "role": "viewer"}],
        },
    ),
    Call("show permission sync job", "GET", lambda w: f"{API}/permissions/sync/{uuid.uuid4()}", PRIVILEGED, 404),
    # From here on things are taken away.
    Call(
        "unlink document",
        "DELETE",
        lambda w: f"{API}/policies/{w.policy['id']}/documents/{w.ids['document']}",
        CHANGE,
        204,
    ),
    Call("delete income", "DELETE", _income, CHANGE, 204),
    Call("delete calculation", "DELETE", lambda w: f"{_deal(w)}/calculations/{w.calculation['id']}", CHANGE, 204),
    Call(
        "remove the executor from the team",
        "DELETE",
        lambda w: f"{_deal(w)}/members/{w.users['executor_on'].id}",
        CHANGE,
        204,
    ),
]


@pytest.mark.parametrize("role", list(SEE))
async def test_every_route_answers_each_caller_by_what_they_may_see_and_change(api, role):
    world = await build_world(api)
    headers = as_user(world.users[role])
    answers = {}
    for call in CALLS:
        body = None if call.body is None else call.body(world)
        response = await api.request(call.method, call.path(world), json=body, headers=headers)
        expected = call.expect[role]
        answers[call.name] = (response.status_code, call.success if expected == "ok" else expected, response.text)
    wrong = {name: (got, want, text[:200]) for name, (got, want, text) in answers.items() if got != want}
    assert not wrong, wrong


async def _ids(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> tuple[set[str], int]:
    body = await ok(await api.get(path, params={"with_total": "true", "limit": 200}, headers=headers))
    return {item["id"] for item in body["items"]}, body["total"]


@pytest.mark.parametrize("role", [role for role in SEE if role != "anonymous"])
async def test_lists_and_their_totals_hold_exactly_the_records_the_caller_sees(api, role):
    world = await build_world(api)
    stranger = as_user(world.users["stranger"])
    theirs_client = await ok(await api.post(f"{API}/clients", json={"name": "Other"}, headers=stranger))
    theirs_deal = await ok(
        await api.post(
            f"{API}/deals",
            json={"client_id": theirs_client["id"], "title": "Other", "next_review_at": day(3)},
            headers=stranger,
        )
    )
    unassigned_client = await ok(await api.post(f"{API}/clients", json={"name": "Nobody's"}))
    await ok(
        await api.post(
            f"{API}/deals",
            json={"client_id": unassigned_client["id"], "title": "Nobody's", "next_review_at": day(4)},
        )
    )
    everything = {
        f"{API}{path}": (await _ids(api, f"{API}{path}", {}))[0]
        for path in ("/clients", "/deals", "/policies", "/tasks")
    }
    mine = {
        "owner": {
            "/clients": {world.client["id"]},
            "/deals": {world.deal["id"]},
            "/policies": {world.policy["id"]},
            "/tasks": {world.ids["task_owner"], world.ids["task_executor"]},
        },
        "executor_on": {
            "/clients": {world.client["id"]},
            "/deals": {world.deal["id"]},
            "/policies": {world.policy["id"]},
            "/tasks": {world.ids["task_owner"], world.ids["task_executor"]},
        },
        "stranger": {
            "/clients": {theirs_client["id"]},
            "/deals": {theirs_deal["id"]},
            "/policies": set(),
            "/tasks": set(),
        },
        "executor_off": {"/clients": set(), "/deals": set(), "/policies": set(), "/tasks": set()},
    }
    headers = as_user(world.users[role])
    for path, all_ids in everything.items():
        expected = all_ids if role in ("admin", "manager") else mine[role][path.removeprefix(API)]
        ids, total = await _ids(api, path, headers)
        assert ids == expected, path
        assert total == len(expected), path
    metrics = await ok(await api.get(f"{API}/deals/stage-metrics", headers=headers))
    counted = sum(item["count"] for item in metrics["items"])
    assert counted == len(everything[f"{API}/deals"] if role in ("admin", "manager") else mine[role]["/deals"])


async def test_a_record_the_caller_may_not_see_is_not_found_and_one_they_may_not_change_is_forbidden(api):
    world = await build_world(api)
    hidden = await api.get(f"{API}/deals/{world.deal['id']}", headers=as_user(world.users["stranger"]))
    refused = await api.patch(
        f"{API}/deals/{world.deal['id']}", json={"title": "Mine"}, headers=as_user(world.users["executor_on"])
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "deal_not_found"
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_a_seller_owns_what_they_create_and_cannot_hand_it_to_someone_else(api):
    seller = User(uuid.uuid4(), "owner")
    created = await ok(await api.post(f"{API}/clients", json={"name": "Mine"}, headers=as_user(seller)))
    assert created["owner_id"] == str(seller.id)
    given = await api.post(
        f"{API}/clients", json={"name": "Theirs", "owner_id": str(uuid.uuid4())}, headers=as_user(seller)
    )
    handed = await api.patch(
        f"{API}/clients/{created['id']}", json={"owner_id": str(uuid.uuid4())}, headers=as_user(seller)
    )
    assert given.status_code == 403 and given.json()["errors"][0]["field"] == "owner_id"
    assert handed.status_code == 403


async def test_an_executor_given_a_task_of_a_deal_sees_the_deal_until_the_task_is_gone(api):
    world = await build_world(api)
    newcomer = User(uuid.uuid4(), "executor_off")
    path = f"{API}/deals/{world.deal['id']}"
    assert (await api.get(path, headers=as_user(newcomer))).status_code == 404
    task = await ok(
        await api.post(
            f"{API}/tasks",
            json={"title": "Visit", "deal_id": world.deal["id"], "assignee_id": str(newcomer.id)},
            headers=as_user(world.users["owner"]),
        )
    )
    assert (await api.get(path, headers=as_user(newcomer))).status_code == 200
    await api.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": None}, headers=as_user(world.users["owner"]))
    assert (await api.get(path, headers=as_user(newcomer))).status_code == 404


async def test_a_co_owner_changes_the_deal_and_its_team(api):
    world = await build_world(api)
    co_owner = User(uuid.uuid4(), "stranger")
    owner = as_user(world.users["owner"])
    added = await api.post(
        f"{API}/deals/{world.deal['id']}/members", json={"user_id": str(co_owner.id), "role": "co_owner"}, headers=owner
    )
    again = await api.post(
        f"{API}/deals/{world.deal['id']}/members", json={"user_id": str(co_owner.id), "role": "executor"}, headers=owner
    )
    changed = await api.patch(f"{API}/deals/{world.deal['id']}", json={"title": "Co-owned"}, headers=as_user(co_owner))
    assert added.status_code == 201 and added.json()["role"] == "co_owner"
    assert again.status_code == 409 and again.json()["code"] == "member_exists"
    assert changed.status_code == 200
    team = await ok(await api.get(f"{API}/deals/{world.deal['id']}/members", headers=as_user(co_owner)))
    assert {m["user_id"] for m in team["items"]} == {str(world.users["executor_on"].id), str(co_owner.id)}
    gone = await api.delete(f"{API}/deals/{world.deal['id']}/members/{uuid.uuid4()}", headers=owner)
    assert gone.status_code == 404 and gone.json()["code"] == "member_not_found"


async def test_team_changes_are_events_of_the_deal(api, db):
    world = await build_world(api)
    owner = as_user(world.users["owner"])
    await api.delete(f"{API}/deals/{world.deal['id']}/members/{world.users['executor_on'].id}", headers=owner)
    rows = await db.fetch(
        "SELECT routing_key, aggregate_id, payload->'data' AS data FROM crm.outbox"
        " WHERE routing_key LIKE 'deal.member.%' ORDER BY id"
    )
    assert [r["routing_key"] for r in rows] == ["deal.member.added", "deal.member.removed"]
    assert all(str(r["aggregate_id"]) == world.deal["id"] for r in rows)
    assert '"executor"' in rows[1]["data"] and str(world.users["owner"].id) in rows[1]["data"]
