"""A broker's day end to end through the API, and the events it leaves, in order."""

from __future__ import annotations

import uuid

from tests.auth import bearer
from tests.factories import make_client, make_deal
from tests.outbox import routing_keys
from tests.values import day


async def test_client_to_policy_with_quotes_journal_task_and_document(api, db):
    broker_id = str(uuid.uuid4())
    broker = bearer(broker_id, "ROLE_MANAGER")
    executor = str(uuid.uuid4())

    client = await make_client(api, name="Volga Freight JSC")
    deal = await make_deal(api, client["id"], title="Fleet CASCO 2027", next_review_at=day(7))
    calculations = f"/api/v1/deals/{deal['id']}/calculations"

    offers = []
    for insurer, premium in (("Ingosstrakh", "182000.00"), ("RESO", "175500.50")):
        response = await api.post(
            calculations,
            json={
                "insurance_company": insurer,
                "program_name": "CASCO Fleet",
                "premium_amount": premium,
                "coverage_sum": "25000000.00",
                "calculation_date": day(0),
                "validity_period": {"start": day(1), "end": day(30)},
                "files": [f"quotes/{insurer.lower()}.pdf"],
            },
            headers=broker,
        )
        assert response.status_code == 201, response.text
        offers.append(response.json())
    chosen = offers[1]

    ready = await api.post(f"{calculations}/{chosen['id']}/status", json={"status": "ready"}, headers=broker)
    assert ready.status_code == 200, ready.text
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "proposal"}, headers=broker)

    policy = await api.post(
        "/api/v1/policies",
        json={
            "policy_number": "RESO-CASCO-2027-0001",
            "client_id": client["id"],
            "deal_id": deal["id"],
            "status": "active",
            "premium": chosen["premium_amount"],
            "currency": "rub",
            "effective_from": day(1),
            "effective_to": day(366),
        },
        headers=broker,
    )
    assert policy.status_code == 201, policy.text
    policy = policy.json()
    assert policy["currency"] == "RUB"
    assert policy["premium"] == "175500.50"

    confirmed = await api.post(
        f"{calculations}/{chosen['id']}/status", json={"status": "confirmed", "policy_id": policy["id"]}, headers=broker
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["linked_policy_id"] == policy["id"]
    assert (await api.get(f"/api/v1/policies/{policy['id']}")).json()["calculation_id"] == chosen["id"]
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedWon"}, headers=broker)

    for note in ("Client chose RESO: lower premium, same cover.", "Policy issued, originals by courier."):
        response = await api.post(f"/api/v1/deals/{deal['id']}/journal", json={"body": note}, headers=broker)
        assert response.status_code == 201, response.text
    journal = (await api.get(f"/api/v1/deals/{deal['id']}/journal")).json()["items"]
    assert [e["body"] for e in journal][0].startswith("Client chose RESO")
    assert {e["author_id"] for e in journal} == {broker_id}

    task = await api.post(
        "/api/v1/tasks",
        json={
            "subject": "Deliver the original policy",
            "assigneeId": executor,
            "dealId": deal["id"],
            "policyId": policy["id"],
            "dueAt": f"{day(2)}T12:00:00+03:00",
            "priority": "high",
        },
        headers=broker,
    )
    assert task.status_code == 201, task.text
    assert task.json()["assignee_id"] == executor
    assert task.json()["status"] == "pending"
    mine = (await api.get("/api/v1/tasks", params={"assignee_id": executor})).json()["items"]
    assert [t["id"] for t in mine] == [task.json()["id"]]

    document_id = str(uuid.uuid4())
    linked = await api.post(f"/api/v1/policies/{policy['id']}/documents", json={"document_id": document_id})
    assert linked.status_code == 201, linked.text
    documents = (await api.get(f"/api/v1/policies/{policy['id']}/documents")).json()["items"]
    assert [d["document_id"] for d in documents] == [document_id]

    won = (await api.get(f"/api/v1/deals/{deal['id']}")).json()
    assert (won["status"], won["stage"]) == ("won", "closedWon")

    keys = await routing_keys(db)
    assert keys == [
        "client.created",
        "deal.created",
        "deal.calculation.created",
        "deal.calculation.created",
        "deal.calculation.status.ready",
        "deal.updated",
        "deal.stage.changed",
        "policy.created",
        "deal.calculation.status.confirmed",
        "deal.updated",
        "deal.stage.changed",
        "deal.journal.appended",
        "deal.journal.appended",
        "task.created",
        "policy.document.linked",
    ]
