"""What happens to an appeal after it came in: converting it into a client and a deal in one transaction, who sees
and handles it (the operator it went to, admins and managers), leads' own routes, and crm-worker's backlog run."""

from __future__ import annotations

import uuid

from crm.app.jobs import run
from crm.app.wiring import Wiring
from crm.infrastructure.db.pool import create_pool
from tests.auth import bearer
from tests.leads import APPEALS, LEADS, appeal, load_of, make_operator, make_source
from tests.outbox import outbox_rows, recorded_events


async def test_converting_makes_a_client_and_a_deal_closes_the_appeal_and_frees_the_slot(api, db):
    operator = await make_operator(api, max_load=1)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"], "tg:conv", name="Ivan Sidorov", email="ivan@example.com", message="CASCO")
    waiting = await appeal(api, source["id"])

    response = await api.post(f"{APPEALS}/{one['id']}/convert", json={"next_review_at": "2026-12-10"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client_created"] is True
    assert (body["client"]["name"], body["client"]["email"]) == ("Ivan Sidorov", "ivan@example.com")
    assert body["deal"]["client_id"] == body["client"]["id"] and body["deal"]["description"] == "CASCO"
    assert body["deal"]["title"] == "Appeal of Ivan Sidorov" and body["deal"]["next_review_at"] == "2026-12-10"
    assert body["appeal"]["status"] == "closed" and body["appeal"]["deal_id"] == body["deal"]["id"]
    assert body["lead"]["client_id"] == body["client"]["id"]
    assert (await api.get(f"{APPEALS}/{waiting['id']}")).json()["operator_id"] == operator["id"]
    assert await load_of(api, operator["id"]) == 1
    [converted] = await outbox_rows(db, routing_key="appeal.converted")
    assert (converted["aggregate_type"], str(converted["aggregate_id"])) == ("deal", body["deal"]["id"])
    keys = [row["routing_key"] for row in await outbox_rows(db)]
    assert keys.index("client.created") < keys.index("deal.created") < keys.index("appeal.converted")


async def test_converting_links_a_live_client_found_by_phone_digits_or_email(api, db):
    existing = (await api.post("/api/v1/clients", json={"name": "Known", "phone": "+7 (900) 111-22-33"})).json()
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"], "tg:known", phone="79001112233")

    body = (await api.post(f"{APPEALS}/{one['id']}/convert", json={"title": "Fleet"})).json()

    assert body["client_created"] is False and body["client"]["id"] == existing["id"]
    assert body["deal"]["title"] == "Fleet"
    assert await db.fetchval("SELECT count(*) FROM crm.clients") == 1


async def test_a_failed_conversion_changes_nothing(api, db):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"], "tg:fail", name="Someone")

    response = await api.post(f"{APPEALS}/{one['id']}/convert", json={"client_id": str(uuid.uuid4())})

    assert response.status_code == 404 and response.json()["code"] == "client_not_found"
    assert response.json()["errors"][0]["field"] == "client_id"
    assert (await api.get(f"{APPEALS}/{one['id']}")).json()["status"] == "open"
    assert await db.fetchval("SELECT count(*) FROM crm.deals") == 0
    assert await load_of(api, operator["id"]) == 1


async def test_a_closed_appeal_cannot_be_converted(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"])
    await api.post(f"{APPEALS}/{one['id']}/close", json={})

    response = await api.post(f"{APPEALS}/{one['id']}/convert", json={})

    assert response.status_code == 409 and response.json()["code"] == "appeal_closed"


async def test_an_operator_sees_and_handles_only_the_appeals_assigned_to_them(api):
    mine_user, other_user = uuid.uuid4(), uuid.uuid4()
    mine = await make_operator(api, user_id=str(mine_user))
    other = await make_operator(api, user_id=str(other_user))
    source = await make_source(api, {mine["id"]: 1})
    one = await appeal(api, source["id"], name="Lead One")
    await api.put(f"/api/v1/sources/{source['id']}/weights", json=[{"operator_id": other["id"], "weight": 1}])
    two = await appeal(api, source["id"])
    as_mine, as_other = bearer(mine_user, "user"), bearer(other_user, "user")

    listed = (await api.get(APPEALS, headers=as_mine)).json()["items"]
    hidden = await api.get(f"{APPEALS}/{two['id']}", headers=as_mine)
    leads = (await api.get(LEADS, headers=as_mine)).json()["items"]
    not_theirs = await api.post(f"{APPEALS}/{one['id']}/close", json={}, headers=as_other)
    named = await api.post(f"{APPEALS}/{one['id']}/reassign", json={"operator_id": other["id"]}, headers=as_mine)
    converted = await api.post(f"{APPEALS}/{one['id']}/convert", json={}, headers=as_mine)

    assert [a["id"] for a in listed] == [one["id"]]
    assert hidden.status_code == 404
    assert [lead["id"] for lead in leads] == [one["lead_id"]]
    assert not_theirs.status_code == 404
    assert named.status_code == 403
    assert converted.status_code == 200, converted.text
    assert converted.json()["deal"]["owner_id"] == str(mine_user)


async def test_only_intake_roles_take_in_appeals(api):
    source = await make_source(api)

    refused = await api.post(
        APPEALS, json={"source_id": source["id"], "external_id": "tg:1"}, headers=bearer(uuid.uuid4(), "user")
    )
    seller = await api.post(
        APPEALS, json={"source_id": source["id"], "external_id": "tg:1"}, headers=bearer(uuid.uuid4(), "seller")
    )

    assert refused.status_code == 403
    assert seller.status_code == 201


async def test_leads_are_created_changed_listed_and_deleted(api, db):
    created = await api.post(LEADS, json={"external_id": "web:form-1", "name": "Olga"})
    twice = await api.post(LEADS, json={"external_id": "web:form-1"})
    lead = created.json()

    changed = await api.patch(f"{LEADS}/{lead['id']}", json={"email": "olga@example.com"}, headers={"If-Match": '"1"'})
    found = (await api.get(LEADS, params={"search": "olga@"})).json()["items"]
    deleted = await api.delete(f"{LEADS}/{lead['id']}")
    again = await api.post(LEADS, json={"external_id": "web:form-1"})

    assert created.status_code == 201 and lead["client_id"] is None
    assert twice.status_code == 409 and twice.json()["code"] == "lead_external_id_conflict"
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert [f["id"] for f in found] == [lead["id"]]
    assert deleted.status_code == 204 and (await api.get(f"{LEADS}/{lead['id']}")).status_code == 404
    assert again.status_code == 201 and again.json()["id"] != lead["id"]
    assert len(await recorded_events(db, "lead.created")) == 2


async def test_the_backlog_job_gives_waiting_appeals_to_operators_whose_absence_ended(api, db, settings):
    operator = await make_operator(api, active=False)
    source = await make_source(api, {operator["id"]: 1})
    waiting = [await appeal(api, source["id"]) for _ in range(2)]
    # Active again behind the API's back, as the end of a shift or an absence is: nothing pulled yet.
    await db.execute("UPDATE crm.operators SET active = true WHERE id = $1", uuid.UUID(operator["id"]))

    pool = await create_pool(settings.database_url, min_size=1, max_size=2, command_timeout=10)
    try:
        summary = await run("lead-backlog", Wiring.of(pool, settings))
    finally:
        await pool.close()

    assert summary["assigned"] == 2 and summary["operators"] == 1
    owners = {(await api.get(f"{APPEALS}/{w['id']}")).json()["operator_id"] for w in waiting}
    assert owners == {operator["id"]}
    assert await load_of(api, operator["id"]) == 2
