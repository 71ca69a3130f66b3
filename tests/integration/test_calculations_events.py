"""The events calculations record on their deal: one per change, carrying the calculation; none when refused."""

from __future__ import annotations

from tests.factories import make_deal, make_policy
from tests.integration.calculations import COMPLETE, make_calculation, make_in_status, move, url
from tests.outbox import cloudevent, event_data, outbox_rows
from tests.values import MISSING


async def calculation_events(db) -> list[dict]:
    return [r for r in await outbox_rows(db) if r["routing_key"].startswith("deal.calculation.")]


async def test_each_change_records_its_event_on_the_deal(api, db):
    deal = await make_deal(api)
    policy = (await make_policy(api, deal))["id"]
    made = await make_calculation(api, deal, **COMPLETE)
    updated = (await api.patch(url(deal, made), json={"comments": "new"})).json()
    ready = (await move(api, deal, made, "ready")).json()
    confirmed = (await move(api, deal, made, "confirmed", policy_id=policy)).json()
    archived = (await move(api, deal, made, "archived")).json()
    dropped = await make_calculation(api, deal)
    await api.delete(url(deal, dropped))

    rows = await calculation_events(db)
    assert [r["routing_key"] for r in rows] == [
        "deal.calculation.created",
        "deal.calculation.updated",
        "deal.calculation.status.ready",
        "deal.calculation.status.confirmed",
        "deal.calculation.status.archived",
        "deal.calculation.created",
        "deal.calculation.deleted",
    ]
    assert {r["aggregate_type"] for r in rows} == {"deal"}
    assert {str(r["aggregate_id"]) for r in rows} == {deal["id"]}
    assert [event_data(r) for r in rows[:5]] == [
        made,
        updated,
        ready,
        {**confirmed, "policy_id": policy},
        {**archived, "policy_id": policy},
    ]
    deleted = event_data(rows[6])
    assert (deleted["id"], deleted["is_deleted"]) == (dropped["id"], True)
    assert cloudevent(rows[0]).get_type() == "crm.deal.calculation.created"


async def test_refused_changes_record_nothing(api, db):
    deal = await make_deal(api)
    draft = await make_calculation(api, deal)
    confirmed = await make_in_status(api, deal, "confirmed")
    before = await outbox_rows(db)
    await move(api, deal, draft, "ready")  # incomplete
    await move(api, deal, draft, "confirmed")  # not allowed
    await move(api, deal, confirmed, "ready")
    await api.patch(url(deal, confirmed), json={"comments": "x"})
    await api.delete(url(deal, confirmed))
    await api.patch(url(deal, draft), json={"comments": "x"}, headers={"If-Match": '"9"'})
    await move(api, {"id": MISSING}, draft, "ready")
    assert await outbox_rows(db) == before
