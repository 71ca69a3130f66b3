"""Who may see and change what: every route answered for every kind of caller, and lists and exports holding
exactly the records the caller sees.

The world: a seller (``owner``) owns a client, its deal, a policy with a payment and an income, a calculation,
a journal entry and two tasks of the deal (one assigned to the owner, one to the executor on the team). The
other callers stand apart from it in every way the rules distinguish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID
from tests.exports import csv_records
from tests.factories import make_policy
from tests.integration.access_support import ROLES, User, as_user
from tests.pipelines import RENEWAL_STAGES, make_pipeline, stage_id
from tests.routes import api_routes
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
    pipeline: dict[str, Any]


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
    expense = await ok(
        await api.post(
            f"{payments}/{payment['id']}/expenses",
            json={"amount": "10.00", "category": "agent_fee", "posted_at": day(0)},
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
    template = await ok(
        await api.post(f"{API}/templates", json={"key": "world.event", "channel": "sse", "body": "{{ x }}"})
    )
    notified = await api.post(
        f"{API}/notifications", json={"event_key": "world.event", "recipients": [{"user_id": str(people["owner"].id)}]}
    )
    assert notified.status_code == 202, notified.text
    # The executor on the team is also the operator who takes the world's appeals.
    operator = await ok(
        await api.post(
            f"{API}/operators", json={"user_id": str(people["executor_on"].id), "name": "Operator", "max_load": 5}
        )
    )
    pipeline = await make_pipeline(
        api, stages=[{"key": "spare", "name": "Spare", "kind": "open"}, *RENEWAL_STAGES], name="World pipeline"
    )
    source = await ok(await api.post(f"{API}/sources", json={"name": "World bot", "channel": "telegram"}))
    rule = await ok(await api.post(f"{API}/automation/rules", json=RULE))
    await ok(
        await api.put(f"{API}/sources/{source['id']}/weights", json=[{"operator_id": operator["id"], "weight": 1}])
    )
    appeals = [
        await ok(await api.post(f"{API}/appeals", json={"source_id": source["id"], "external_id": f"tg:world-{n}"}))
        for n in range(2)
    ]
    ids = {
        "rule_id": rule["id"],
        "pipeline_id": pipeline["id"],
        "stage_id": stage_id(pipeline, "spare"),
        "operator_id": operator["id"],
        "source_id": source["id"],
        "appeal_id": appeals[0]["id"],
        "second_appeal_id": appeals[1]["id"],
        "lead_id": appeals[0]["lead_id"],
        "template_id": template["id"],
        "notification_id": notified.json()["notification_id"],
        "client_id": client["id"],
        "deal_id": deal["id"],
        "policy_id": policy["id"],
        "payment_id": payment["id"],
        "calculation_id": calculation["id"],
        "income_id": income["id"],
        "expense_id": expense["id"],
        "task_id": task_owner["id"],
        "executor_task_id": task_executor["id"],
        "document_id": str(uuid.uuid4()),
        "user_id": str(people["executor_on"].id),
        "job_id": str(uuid.uuid4()),
    }
    return World(people, ids, deal, client, policy, payment, calculation, pipeline)


RULE = {
    "name": "World rule",
    "trigger": {"kind": "event", "event_type": "deal.stage.changed"},
    "action": {"kind": "notify", "message": "Moved"},
}

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
# A notification: its recipient (the owner) and the staff.
NOTIFIED = {**dict.fromkeys(SEE, 404), "admin": "ok", "manager": "ok", "owner": "ok", "anonymous": 401}
# The world's user_id is the executor on the team: their own contacts. Nobody else's are anyone's business but
# the admins' (and the managers', to read).
OWN_CONTACTS = {**dict.fromkeys(SEE, 403), "admin": "ok", "executor_on": "ok", "anonymous": 401}
# Read after the PUT above: there when it was set, none (404) for the manager, who may read but not set them.
READ_CONTACTS = {**OWN_CONTACTS, "manager": 404}
ASSIGN_TASK = CHANGE
# Appeals and their leads: the staff, and the operator holding them (the executor on the team).
HANDLER = {**dict.fromkeys(SEE, 404), "admin": "ok", "manager": "ok", "executor_on": "ok", "anonymous": 401}
INTAKE = {**dict.fromkeys(SEE, 403), "admin": "ok", "manager": "ok", "owner": "ok", "stranger": "ok", "anonymous": 401}


@dataclass(frozen=True)
class Call:
    """One request: ``route`` is its method and path template, filled from the world's ids (``ids`` renames
    a placeholder to another id of the world: a line id to the income's or the expense's)."""

    route: str
    expect: dict[str, Any]
    success: int = 200
    body: Callable[[World], Any] | None = None
    ids: dict[str, str] = field(default_factory=dict)
    name: str = ""
    content_type: str = "application/json"  # any other: ``body`` gives the text to send

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    def path(self, world: World) -> str:
        template = self.route.split(" ", 1)[1]
        values = {**world.ids, **{name: world.ids[other] for name, other in self.ids.items()}}
        return template.format(**values)


DEAL = f"{API}/deals/{{deal_id}}"
PIPELINE = f"{API}/pipelines/{{pipeline_id}}"
RULES = f"{API}/automation/rules"
PAYMENT = f"{DEAL}/policies/{{policy_id}}/payments/{{payment_id}}"
INCOME = {"line_id": "income_id"}
EXPENSE = {"line_id": "expense_id"}


def _line(kind: str) -> list[Call]:
    """The same routes for incomes and expenses; the world's line of that kind."""
    ids = INCOME if kind == "incomes" else EXPENSE
    category = "commission" if kind == "incomes" else "processing"
    line = f"{PAYMENT}/{kind}/{{line_id}}"
    return [
        Call(f"GET {PAYMENT}/{kind}", SEE),
        Call(
            f"POST {PAYMENT}/{kind}",
            CHANGE,
            201,
            body=lambda w: {"amount": "5.00", "category": category, "posted_at": day(0)},
        ),
        Call(f"GET {line}", SEE, ids=ids),
        Call(f"PATCH {line}", CHANGE, body=lambda w: {"posted_at": day(0)}, ids=ids),
        Call(f"POST {line}/restore", CHANGE, ids=ids),
    ]


# In order: nothing before the last few takes anything away from anyone.
CALLS = [
    Call(f"GET {API}/clients", ANYONE),
    Call(f"GET {API}/clients/{{client_id}}", SEE),
    Call(f"PATCH {API}/clients/{{client_id}}", CLIENT_CHANGE, body=lambda w: {"name": "Acme"}),
    Call(f"DELETE {API}/clients/{{client_id}}", CLIENT_CHANGE, 409, name="a client with open deals"),
    Call(f"POST {API}/clients/{{client_id}}/restore", CLIENT_CHANGE),
    Call(f"POST {API}/clients", CREATE, 201, body=lambda w: {"name": "New"}),
    Call(f"GET {API}/clients/export", ANYONE, name="what the caller sees"),
    Call(
        f"POST {API}/clients/import",
        CREATE,
        201,
        body=lambda w: "name,email\r\nImported,imported@example.org\r\n",
        content_type="text/csv",
    ),
    Call(f"GET {API}/deals", ANYONE),
    Call(f"GET {DEAL}", SEE),
    Call(f"PATCH {DEAL}", CHANGE, body=lambda w: {"title": "Fleet"}),
    Call(f"PATCH {DEAL}/stage", CHANGE, body=lambda w: {"stage": "qualification"}),
    Call(
        f"PATCH {DEAL}/pipeline",
        CHANGE,
        body=lambda w: {"pipeline_id": str(SEEDED_PIPELINE_ID), "stage": "qualification"},
        name="to where it is",
    ),
    Call(f"GET {DEAL}/stage-history", SEE),
    Call(f"DELETE {DEAL}", CHANGE, 409, name="a deal with policies"),
    Call(f"POST {DEAL}/restore", CHANGE),
    Call(
        f"POST {API}/deals",
        NEW_DEAL_OF_CLIENT,
        201,
        body=lambda w: {"client_id": w.client["id"], "title": "More", "next_review_at": day(5)},
    ),
    Call(f"GET {API}/deals/stage-metrics", ANYONE),
    Call(f"GET {API}/deals/export", ANYONE, name="what the caller sees"),
    Call(f"GET {DEAL}/members", SEE),
    Call(f"POST {DEAL}/members", CHANGE, 201, body=lambda w: {"user_id": str(uuid.uuid4()), "role": "co_owner"}),
    Call(f"GET {DEAL}/calculations", SEE),
    Call(
        f"POST {DEAL}/calculations",
        CHANGE,
        201,
        body=lambda w: {"insurance_company": "Ingosstrakh", "calculation_date": day(0)},
    ),
    Call(f"GET {DEAL}/calculations/{{calculation_id}}", SEE),
    Call(f"PATCH {DEAL}/calculations/{{calculation_id}}", CHANGE, body=lambda w: {"insurance_company": "RESO"}),
    Call(
        f"POST {DEAL}/calculations/{{calculation_id}}/status",
        CHANGE,
        409,
        body=lambda w: {"status": "confirmed"},
        name="a draft calculation cannot be confirmed",
    ),
    Call(f"POST {DEAL}/calculations/{{calculation_id}}/restore", CHANGE),
    Call(f"GET {DEAL}/journal", SEE),
    Call(f"POST {DEAL}/journal", TEAM, 201, body=lambda w: {"body": "Note"}),
    Call(f"GET {API}/policies", ANYONE),
    Call(f"GET {API}/policies/{{policy_id}}", SEE),
    Call(f"PATCH {API}/policies/{{policy_id}}", CHANGE, body=lambda w: {"policy_number": w.policy["policy_number"]}),
    Call(f"DELETE {API}/policies/{{policy_id}}", CHANGE, 409, name="a policy with payments"),
    Call(f"POST {API}/policies/{{policy_id}}/restore", CHANGE),
    Call(
        f"POST {API}/policies",
        NEW_DEAL_OF_CLIENT,
        201,
        body=lambda w: {
            "policy_number": f"POL-{uuid.uuid4().hex[:10]}",
            "client_id": w.client["id"],
            "deal_id": w.deal["id"],
        },
        name="a draft policy of the deal",
    ),
    Call(f"GET {API}/policies/{{policy_id}}/documents", SEE),
    Call(
        f"POST {API}/policies/{{policy_id}}/documents",
        CHANGE,
        201,
        body=lambda w: {"document_id": w.ids["document_id"]},
    ),
    Call(f"GET {DEAL}/policies/{{policy_id}}/payments", SEE),
    Call(f"GET {API}/payments/export", ANYONE, name="what the caller sees"),
    Call(
        f"POST {DEAL}/policies/{{policy_id}}/payments",
        CHANGE,
        201,
        body=lambda w: {"planned_date": day(60), "planned_amount": "500.00"},
    ),
    Call(f"GET {PAYMENT}", SEE),
    Call(f"PATCH {PAYMENT}", CHANGE, body=lambda w: {"planned_amount": "1000.00"}),
    Call(f"DELETE {PAYMENT}", CHANGE, 409, name="a payment with lines"),
    Call(f"POST {PAYMENT}/restore", CHANGE),
    Call(f"POST {PAYMENT}/cancel", ADMIN_ONLY),
    Call(f"POST {PAYMENT}/reopen", ADMIN_ONLY),
    Call(f"GET {PAYMENT}/history", SEE),
    *_line("incomes"),
    *_line("expenses"),
    Call(f"GET {API}/tasks", ANYONE),
    Call(f"GET {API}/tasks/{{task_id}}", SEE),
    Call(f"PATCH {API}/tasks/{{task_id}}", CHANGE, body=lambda w: {"title": "Call"}, name="the owner's task"),
    Call(
        f"PATCH {API}/tasks/{{task_id}}",
        OWN_TASK,
        body=lambda w: {"title": "Inspect"},
        ids={"task_id": "executor_task_id"},
        name="the executor's task",
    ),
    Call(f"POST {API}/tasks/{{task_id}}/reminders", CHANGE, 201, body=lambda w: {"remind_at": at(1), "channel": "sse"}),
    Call(f"POST {API}/tasks/{{task_id}}/schedule", CHANGE, body=lambda w: {"scheduled_for": at(2)}),
    Call(
        f"POST {API}/tasks/{{task_id}}/complete",
        OWN_TASK,
        ids={"task_id": "executor_task_id"},
        name="the executor completes their task",
    ),
    Call(f"POST {API}/tasks", ANYONE, 201, body=lambda w: {"title": "Mine"}, name="a task of one's own"),
    Call(
        f"POST {API}/tasks",
        ASSIGN_TASK,
        201,
        body=lambda w: {"title": "Theirs", "deal_id": w.deal["id"], "assignee_id": str(uuid.uuid4())},
        name="a task of the deal for someone else",
    ),
    Call(
        f"POST {API}/permissions/sync",
        PRIVILEGED,
        503,  # no queue configured in the tests' app: the privileged get as far as the queue
        body=lambda w: {
            "owner_type": "deal",
            "owner_id": w.deal["id"],
            "users": [{"user_id": str(uuid.uuid4()), "role": "viewer"}],
        },
    ),
    Call(f"GET {API}/permissions/sync/{{job_id}}", PRIVILEGED, 404),
    Call(f"GET {API}/templates", ANYONE),
    Call(f"GET {API}/templates/{{template_id}}", ANYONE),
    Call(
        f"POST {API}/templates",
        PRIVILEGED,
        201,
        body=lambda w: {"key": f"world.{uuid.uuid4().hex[:8]}", "channel": "telegram", "body": "Hi"},
    ),
    Call(f"PATCH {API}/templates/{{template_id}}", PRIVILEGED, body=lambda w: {"body": "{{ y }}"}),
    Call(f"POST {API}/templates/{{template_id}}/restore", PRIVILEGED, name="a live template stays as it is"),
    Call(
        f"POST {API}/notifications",
        PRIVILEGED,
        202,
        body=lambda w: {"event_key": "world.event", "recipients": [{"user_id": str(uuid.uuid4())}]},
    ),
    Call(f"GET {API}/notifications", ANYONE),
    Call(f"GET {API}/notifications/{{notification_id}}", NOTIFIED),
    Call(
        "POST /api/notifications/events",
        PRIVILEGED,
        202,
        body=lambda w: {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "tests", "type": "notifications.x"},
    ),
    Call("GET /api/notifications/health", PRIVILEGED),
    Call(
        f"PUT {API}/users/{{user_id}}/contacts",
        OWN_CONTACTS,
        201,
        body=lambda w: {"telegram_id": "123456789", "preferred_channel": "telegram"},
    ),
    Call(f"GET {API}/users/{{user_id}}/contacts", READ_CONTACTS),
    Call(f"GET {API}/operators", ANYONE),
    Call(f"GET {API}/operators/{{operator_id}}", ANYONE),
    Call(
        f"POST {API}/operators",
        PRIVILEGED,
        201,
        body=lambda w: {"user_id": str(uuid.uuid4()), "name": "New operator", "max_load": 3},
    ),
    Call(f"PATCH {API}/operators/{{operator_id}}", PRIVILEGED, body=lambda w: {"max_load": 7}),
    Call(f"POST {API}/operators/{{operator_id}}/restore", PRIVILEGED, name="a live operator stays as they are"),
    Call(f"GET {API}/sources", ANYONE),
    Call(f"GET {API}/sources/{{source_id}}", ANYONE),
    Call(
        f"POST {API}/sources", PRIVILEGED, 201, body=lambda w: {"name": f"S {uuid.uuid4().hex[:8]}", "channel": "web"}
    ),
    Call(f"PATCH {API}/sources/{{source_id}}", PRIVILEGED, body=lambda w: {"sticky": False}),
    Call(f"POST {API}/sources/{{source_id}}/restore", PRIVILEGED, name="a live source stays as it is"),
    Call(f"GET {API}/sources/{{source_id}}/weights", ANYONE),
    Call(
        f"PUT {API}/sources/{{source_id}}/weights",
        PRIVILEGED,
        body=lambda w: [{"operator_id": w.ids["operator_id"], "weight": 2}],
    ),
    Call(f"GET {API}/pipelines", ANYONE),
    Call(f"GET {PIPELINE}", ANYONE),
    Call(
        f"POST {API}/pipelines",
        PRIVILEGED,
        201,
        body=lambda w: {"name": f"P {uuid.uuid4().hex[:8]}", "stages": RENEWAL_STAGES},
    ),
    Call(f"PATCH {PIPELINE}", PRIVILEGED, body=lambda w: {"lost_reasons": ["Price"]}),
    Call(f"POST {PIPELINE}/restore", PRIVILEGED, name="a live pipeline stays as it is"),
    Call(
        f"PUT {PIPELINE}/stages/order",
        PRIVILEGED,
        body=lambda w: [w.ids["stage_id"], *(s["id"] for s in w.pipeline["stages"] if s["id"] != w.ids["stage_id"])],
    ),
    Call(
        f"POST {PIPELINE}/stages",
        PRIVILEGED,
        201,
        body=lambda w: {"key": f"s{uuid.uuid4().hex[:8]}", "name": "New", "kind": "open"},
    ),
    Call(f"PATCH {PIPELINE}/stages/{{stage_id}}", PRIVILEGED, body=lambda w: {"sla_days": 3}),
    Call(f"POST {PIPELINE}/stages/{{stage_id}}/restore", PRIVILEGED, name="a live stage stays as it is"),
    # Figures over the deals the caller sees (tests/integration/test_analytics.py checks what they count).
    *(
        Call(f"GET {API}/analytics/{figure}", ANYONE)
        for figure in ("funnel", "stage-times", "forecast", "performance", "income")
    ),
    Call(f"GET {RULES}", PRIVILEGED),
    Call(f"GET {RULES}/{{rule_id}}", PRIVILEGED),
    Call(f"GET {RULES}/{{rule_id}}/runs", PRIVILEGED),
    Call(f"POST {RULES}", PRIVILEGED, 201, body=lambda w: RULE),
    Call(f"PATCH {RULES}/{{rule_id}}", PRIVILEGED, body=lambda w: {"name": f"Rule {uuid.uuid4().hex[:8]}"}),
    Call(f"GET {API}/leads", ANYONE),
    Call(f"GET {API}/leads/{{lead_id}}", HANDLER),
    Call(f"POST {API}/leads", INTAKE, 201, body=lambda w: {"external_id": f"web:{uuid.uuid4().hex}"}),
    Call(f"PATCH {API}/leads/{{lead_id}}", PRIVILEGED, body=lambda w: {"name": "Ivan"}),
    Call(
        f"POST {API}/appeals",
        INTAKE,
        201,
        body=lambda w: {"source_id": w.ids["source_id"], "external_id": f"tg:{uuid.uuid4().hex}"},
    ),
    Call(f"GET {API}/appeals", ANYONE),
    Call(f"GET {API}/stats/distribution", PRIVILEGED),
    Call(f"GET {API}/appeals/{{appeal_id}}", HANDLER),
    Call(f"GET {API}/appeals/{{appeal_id}}/assignment", HANDLER),
    Call(
        f"POST {API}/appeals/{{appeal_id}}/reassign",
        PRIVILEGED,
        body=lambda w: {"operator_id": w.ids["operator_id"]},
        name="to the operator holding it",
    ),
    # From here on things are taken away.
    Call(f"POST {API}/appeals/{{appeal_id}}/convert", HANDLER, body=lambda w: {"title": "From the appeal"}),
    Call(f"POST {API}/appeals/{{appeal_id}}/close", HANDLER, ids={"appeal_id": "second_appeal_id"}),
    Call(f"DELETE {API}/leads/{{lead_id}}", PRIVILEGED, 204),
    Call(f"DELETE {API}/policies/{{policy_id}}/documents/{{document_id}}", CHANGE, 204),
    Call(f"DELETE {PAYMENT}/incomes/{{line_id}}", CHANGE, 204, ids=INCOME),
    Call(f"DELETE {PAYMENT}/expenses/{{line_id}}", CHANGE, 204, ids=EXPENSE),
    Call(f"DELETE {DEAL}/calculations/{{calculation_id}}", CHANGE, 204),
    Call(f"DELETE {DEAL}/members/{{user_id}}", CHANGE, 204, name="the executor leaves the team"),
    Call(f"DELETE {API}/templates/{{template_id}}", PRIVILEGED, 204),
    Call(f"DELETE {API}/sources/{{source_id}}", PRIVILEGED, 204),
    Call(f"DELETE {API}/operators/{{operator_id}}", PRIVILEGED, 204),
    Call(f"DELETE {PIPELINE}/stages/{{stage_id}}", PRIVILEGED, 204),
    Call(f"DELETE {PIPELINE}", PRIVILEGED, 204),
]
# Served as Server-Sent Events and checked by tests/messaging/test_deal_stream_access.py; open to anyone.
ELSEWHERE = {
    "GET /streams",
    "GET /streams/deals",
    "GET /healthz",
    "GET /readyz",
    # Open like the health checks, names no record; tests/integration/test_metrics.py.
    "GET /metrics",
    # Checked by tests/messaging/test_notification_stream.py.
    "GET /api/notifications/stream",
}


def test_the_matrix_covers_every_route(app):
    served = {
        f"{method} {route.path_format}"
        for route in api_routes(app.routes)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served - ELSEWHERE == {call.route for call in CALLS}


@pytest.mark.parametrize("role", list(SEE))
async def test_every_route_answers_each_caller_by_what_they_may_see_and_change(api, role):
    world = await build_world(api)
    headers = as_user(world.users[role])
    answers = {}
    for call in CALLS:
        body = None if call.body is None else call.body(world)
        if call.content_type == "application/json":
            response = await api.request(call.method, call.path(world), json=body, headers=headers)
        else:
            response = await api.request(
                call.method, call.path(world), content=body, headers={**headers, "Content-Type": call.content_type}
            )
        expected = call.expect[role]
        answers[f"{call.route} {call.name}".strip()] = (
            response.status_code,
            call.success if expected == "ok" else expected,
            response.text,
        )
    wrong = {name: (got, want, text[:200]) for name, (got, want, text) in answers.items() if got != want}
    assert not wrong, wrong


async def _ids(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> tuple[set[str], int]:
    body = await ok(await api.get(path, params={"with_total": "true", "limit": 200}, headers=headers))
    return {item["id"] for item in body["items"]}, body["total"]


async def _exported(api: httpx.AsyncClient, path: str, headers: dict[str, str]) -> set[str]:
    response = await api.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return {row["id"] for row in csv_records(response)}


@pytest.mark.parametrize("role", [role for role in SEE if role != "anonymous"])
async def test_lists_exports_and_their_totals_hold_exactly_the_records_the_caller_sees(api, role):
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
            "/tasks": {world.ids["task_id"], world.ids["executor_task_id"]},
        },
        "executor_on": {
            "/clients": {world.client["id"]},
            "/deals": {world.deal["id"]},
            "/policies": {world.policy["id"]},
            "/tasks": {world.ids["task_id"], world.ids["executor_task_id"]},
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
        if path.endswith(("/clients", "/deals")):
            assert await _exported(api, f"{path}/export", headers) == expected, path
    sees_payment = role in ("admin", "manager", "owner", "executor_on")
    assert await _exported(api, f"{API}/payments/export", headers) == ({world.payment["id"]} if sees_payment else set())
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
