"""Appeals coming in over HTTP: the lead found or made, the appeal given to an available operator by weight (or
sticky, or left unassigned), `max_load` kept, the unassigned queue pulled in order as capacity frees, and every
decision logged with its candidates."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.apps import running_app
from tests.fairness import chi_square, fair
from tests.leads import APPEALS, LEADS, OPERATORS, appeal, load_of, make_operator, make_source, set_weights
from tests.outbox import recorded_events, routing_keys


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_an_appeal_goes_to_the_only_available_operator_and_the_lead_is_made_once(api, db):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})

    first = await appeal(api, source["id"], "tg:1", name="Ivan", message="CASCO for two trucks")
    second = await appeal(api, source["id"], "tg:1", phone="+7 900 000-00-01")

    assert first["operator_id"] == operator["id"] and first["status"] == "open" and first["assigned_at"]
    assert first["message"] == "CASCO for two trucks" and second["lead_id"] == first["lead_id"]
    lead = (await api.get(f"{LEADS}/{first['lead_id']}")).json()
    assert (lead["external_id"], lead["name"], lead["phone"], lead["version"]) == (
        "tg:1",
        "Ivan",
        "+7 900 000-00-01",
        2,
    )
    assert await load_of(api, operator["id"]) == 2
    keys = await routing_keys(db)
    assert keys[-6:] == [
        "lead.created",
        "appeal.created",
        "appeal.assigned",
        "lead.updated",
        "appeal.created",
        "appeal.assigned",
    ]


async def test_with_nobody_available_the_appeal_is_stored_unassigned_never_refused(api, db):
    operator = await make_operator(api, active=False)
    source = await make_source(api, {operator["id"]: 5})

    response = await api.post(APPEALS, json={"source_id": source["id"], "external_id": "web:a@b.c"})

    assert response.status_code == 201, response.text
    assert response.json()["operator_id"] is None and response.json()["assigned_at"] is None
    [(_, _, data)] = await recorded_events(db, "appeal.unassigned")
    assert data["id"] == response.json()["id"] and data["reason"] == "unassigned"
    unassigned = (await api.get(APPEALS, params={"unassigned": "true"})).json()["items"]
    assert [item["id"] for item in unassigned] == [response.json()["id"]]


async def test_only_active_present_operators_under_their_cap_with_weight_are_candidates(api):
    now = datetime.now(UTC)
    inactive = await make_operator(api, active=False)
    absent = await make_operator(
        api, absences=[{"starts_at": _iso(now - timedelta(hours=1)), "ends_at": _iso(now + timedelta(hours=1))}]
    )
    off_hours = await make_operator(api, working_hours={})  # hours set, no shift on any day
    full = await make_operator(api, max_load=0)
    zero = await make_operator(api)
    available = await make_operator(api)
    weights = {inactive["id"]: 1, absent["id"]: 1, off_hours["id"]: 1, full["id"]: 1, zero["id"]: 0}
    source = await make_source(api, {**weights, available["id"]: 1})

    appeals = [await appeal(api, source["id"]) for _ in range(5)]

    assert {a["operator_id"] for a in appeals} == {available["id"]}
    log = (await api.get(f"{APPEALS}/{appeals[0]['id']}/assignment")).json()
    assert log["current"]["reason"] == "weighted" and len(log["history"]) == 1
    excluded = {c["operator_id"]: c["excluded"] for c in log["current"]["candidates"]}
    assert excluded == {
        inactive["id"]: "inactive",
        absent["id"]: "absent",
        off_hours["id"]: "off_hours",
        full["id"]: "at_capacity",
        zero["id"]: "zero_weight",
        available["id"]: None,
    }


async def test_working_hours_in_the_business_time_zone_make_an_operator_present(api, settings):
    local = datetime.now(settings.business_zone)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    # A shift around now, unless now is too close to midnight for one: then all day.
    start = max(local - timedelta(minutes=30), local.replace(hour=0, minute=0))
    hours = {day: [{"from": start.strftime("%H:%M"), "to": "24:00"}]}
    operator = await make_operator(api, working_hours=hours)
    source = await make_source(api, {operator["id"]: 1})

    assert (await appeal(api, source["id"]))["operator_id"] == operator["id"]


async def test_a_repeat_contact_goes_to_the_operator_of_the_open_appeal_on_a_sticky_source(api):
    first, second = await make_operator(api), await make_operator(api)
    sticky = await make_source(api, {first["id"]: 1, second["id"]: 1})

    opening = await appeal(api, sticky["id"], "tg:sticky")
    repeats = [await appeal(api, sticky["id"], "tg:sticky") for _ in range(6)]

    assert {r["operator_id"] for r in repeats} == {opening["operator_id"]}
    log = (await api.get(f"{APPEALS}/{repeats[0]['id']}/assignment")).json()
    assert log["current"]["reason"] == "sticky"


async def test_a_source_that_is_not_sticky_draws_every_contact_afresh(api):
    first, second = await make_operator(api, max_load=100), await make_operator(api, max_load=100)
    loose = await make_source(api, {first["id"]: 1, second["id"]: 1}, sticky=False)

    contacts = [await appeal(api, loose["id"], "tg:loose") for _ in range(30)]

    assert {c["operator_id"] for c in contacts} == {first["id"], second["id"]}


async def test_a_sticky_operator_at_capacity_lets_the_repeat_go_to_someone_else(api):
    holder = await make_operator(api, max_load=1)
    other = await make_operator(api)
    source = await make_source(api, {holder["id"]: 1000000, other["id"]: 1})
    opening = await appeal(api, source["id"], "tg:busy")
    assert opening["operator_id"] == holder["id"]

    repeat = await appeal(api, source["id"], "tg:busy")

    assert repeat["operator_id"] == other["id"]
    assert await load_of(api, holder["id"]) == 1


async def test_max_load_holds_and_the_oldest_unassigned_appeal_is_pulled_when_one_closes(api, db):
    operator = await make_operator(api, max_load=2)
    source = await make_source(api, {operator["id"]: 1})
    held = [await appeal(api, source["id"]) for _ in range(2)]
    waiting = [await appeal(api, source["id"]) for _ in range(3)]
    assert [w["operator_id"] for w in waiting] == [None, None, None]

    closed = await api.post(f"{APPEALS}/{held[0]['id']}/close", json={"resolution": "Done"})

    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["resolution"] == "Done"
    pulled = (await api.get(f"{APPEALS}/{waiting[0]['id']}")).json()
    assert pulled["operator_id"] == operator["id"]
    still = [(await api.get(f"{APPEALS}/{w['id']}")).json()["operator_id"] for w in waiting[1:]]
    assert still == [None, None]
    assert await load_of(api, operator["id"]) == 2
    log = (await api.get(f"{APPEALS}/{waiting[0]['id']}/assignment")).json()
    assert [d["reason"] for d in log["history"]] == ["unassigned", "backlog"]


async def test_raising_max_load_pulls_the_oldest_unassigned_appeals_in_order(api):
    operator = await make_operator(api, max_load=0)
    source = await make_source(api, {operator["id"]: 1})
    waiting = [await appeal(api, source["id"]) for _ in range(4)]

    raised = await api.patch(f"{OPERATORS}/{operator['id']}", json={"max_load": 3})

    assert raised.status_code == 200, raised.text
    assert raised.json()["load"] == 3 and raised.json()["at_capacity"] is True
    owners = [(await api.get(f"{APPEALS}/{w['id']}")).json()["operator_id"] for w in waiting]
    assert owners == [operator["id"]] * 3 + [None]


async def test_an_operator_coming_back_takes_what_waited_for_them(api):
    operator = await make_operator(api, active=False)
    source = await make_source(api, {operator["id"]: 1})
    waiting = await appeal(api, source["id"])

    back = await api.patch(f"{OPERATORS}/{operator['id']}", json={"active": True})

    assert back.json()["load"] == 1
    assert (await api.get(f"{APPEALS}/{waiting['id']}")).json()["operator_id"] == operator["id"]


async def test_new_weights_let_an_operator_take_the_sources_unassigned_appeals(api):
    source = await make_source(api)
    waiting = await appeal(api, source["id"])
    operator = await make_operator(api)

    await set_weights(api, source["id"], {operator["id"]: 2})

    assert (await api.get(f"{APPEALS}/{waiting['id']}")).json()["operator_id"] == operator["id"]


async def test_lowering_max_load_below_the_load_is_allowed_and_says_the_operator_is_at_capacity(api):
    operator = await make_operator(api, max_load=5)
    source = await make_source(api, {operator["id"]: 1})
    for _ in range(3):
        await appeal(api, source["id"])

    lowered = await api.patch(f"{OPERATORS}/{operator['id']}", json={"max_load": 1})
    after = await appeal(api, source["id"])

    assert lowered.status_code == 200, lowered.text
    body = lowered.json()
    assert (body["max_load"], body["load"], body["at_capacity"]) == (1, 3, True)
    assert lowered.headers["ETag"] == f'"{body["version"]}-load_3"'
    assert after["operator_id"] is None


async def test_a_cached_operator_goes_stale_when_their_load_changes(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    etag = (await api.get(f"{OPERATORS}/{operator['id']}")).headers["ETag"]

    await appeal(api, source["id"])
    again = await api.get(f"{OPERATORS}/{operator['id']}", headers={"If-None-Match": etag})

    assert again.status_code == 200 and again.json()["load"] == 1


async def test_closing_twice_is_a_conflict_and_frees_the_slot_once(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"])

    assert (await api.post(f"{APPEALS}/{one['id']}/close", json={})).status_code == 200
    again = await api.post(f"{APPEALS}/{one['id']}/close", json={})

    assert again.status_code == 409 and again.json()["code"] == "appeal_closed"
    assert await load_of(api, operator["id"]) == 0


async def test_reassigning_to_a_named_operator_moves_the_load_and_keeps_the_cap(api):
    first, second = await make_operator(api), await make_operator(api, max_load=1)
    source = await make_source(api, {first["id"]: 1})
    one, two = await appeal(api, source["id"]), await appeal(api, source["id"])

    moved = await api.post(f"{APPEALS}/{one['id']}/reassign", json={"operator_id": second["id"]})
    refused = await api.post(f"{APPEALS}/{two['id']}/reassign", json={"operator_id": second["id"]})
    unknown = await api.post(f"{APPEALS}/{two['id']}/reassign", json={"operator_id": str(uuid.uuid4())})

    assert moved.status_code == 200 and moved.json()["operator_id"] == second["id"]
    assert moved.json()["first_action_at"] is not None
    assert (await load_of(api, first["id"]), await load_of(api, second["id"])) == (1, 1)
    assert refused.status_code == 409 and refused.json()["code"] == "operator_unavailable"
    assert refused.json()["errors"][0]["field"] == "operator_id"
    assert unknown.status_code == 404 and unknown.json()["code"] == "operator_not_found"
    log = (await api.get(f"{APPEALS}/{one['id']}/assignment")).json()
    assert log["current"]["reason"] == "manual" and log["current"]["previous_operator_id"] == first["id"]


async def test_reassigning_without_a_target_draws_among_the_others(api):
    first, second = await make_operator(api), await make_operator(api)
    source = await make_source(api, {first["id"]: 1, second["id"]: 1})
    one = await appeal(api, source["id"])
    holder = one["operator_id"]

    moved = await api.post(f"{APPEALS}/{one['id']}/reassign", json={})

    assert moved.status_code == 200, moved.text
    assert moved.json()["operator_id"] not in (None, holder)
    excluded = {
        c["operator_id"]: c["excluded"]
        for c in (await api.get(f"{APPEALS}/{one['id']}/assignment")).json()["current"]["candidates"]
    }
    assert excluded[holder] == "current"


async def test_a_handed_back_appeal_never_returns_to_its_holder_by_itself(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one, other = await appeal(api, source["id"]), await appeal(api, source["id"])

    moved = await api.post(f"{APPEALS}/{one['id']}/reassign")
    await api.post(f"{APPEALS}/{other['id']}/close")  # room again: the queue is pulled
    named = await api.post(f"{APPEALS}/{one['id']}/reassign", json={"operator_id": operator["id"]})

    assert moved.status_code == 200 and moved.json()["operator_id"] is None
    assert named.status_code == 200 and named.json()["operator_id"] == operator["id"]
    log = (await api.get(f"{APPEALS}/{one['id']}/assignment")).json()
    assert [d["reason"] for d in log["history"]] == ["weighted", "unassigned", "manual"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "a\u0000b"}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"message": "m" * 10_001}, "message"),
        ({"message": "nul\u0000"}, "message"),
        ({"email": "not-an-email"}, "email"),
        ({"source_id": "nope"}, "source_id"),
        ({"external_id": ""}, "external_id"),
    ],
)
async def test_bad_appeal_input_is_a_422_naming_the_field(api, body, field):
    source = await make_source(api)

    response = await api.post(APPEALS, json={"source_id": source["id"], "external_id": "tg:x", **body})

    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_an_unknown_or_inactive_source_is_refused_naming_it_and_nothing_is_stored(api, db):
    inactive = await make_source(api, active=False)

    unknown = await api.post(APPEALS, json={"source_id": str(uuid.uuid4()), "external_id": "tg:1"})
    refused = await api.post(APPEALS, json={"source_id": inactive["id"], "external_id": "tg:1"})

    assert unknown.status_code == 404 and unknown.json()["code"] == "source_not_found"
    assert refused.status_code == 409 and refused.json()["code"] == "source_inactive"
    assert {e["field"] for e in unknown.json()["errors"] + refused.json()["errors"]} == {"source_id"}
    assert await db.fetchval("SELECT count(*) FROM crm.leads") == 0


async def test_concurrent_first_contacts_of_one_person_make_one_lead(api, db):
    operator = await make_operator(api, max_load=100)
    sources = [await make_source(api, {operator["id"]: 1}) for _ in range(4)]

    made = await asyncio.gather(*(appeal(api, sources[i % 4]["id"], "tg:racer") for i in range(16)))

    assert len({m["lead_id"] for m in made}) == 1
    assert await db.fetchval("SELECT count(*) FROM crm.leads") == 1
    assert len(await recorded_events(db, "lead.created")) == 1


async def test_appeals_are_listed_newest_first_and_filtered(api):
    first, second = await make_operator(api), await make_operator(api)
    one = await make_source(api, {first["id"]: 1})
    two = await make_source(api, {second["id"]: 1})
    a = await appeal(api, one["id"])
    b = await appeal(api, two["id"])
    await api.post(f"{APPEALS}/{a['id']}/close", json={})

    every = (await api.get(APPEALS)).json()["items"]
    by_source = (await api.get(APPEALS, params={"source_id": two["id"]})).json()["items"]
    by_operator = (await api.get(APPEALS, params={"operator_id": first["id"]})).json()["items"]
    open_ones = (await api.get(APPEALS, params={"status": "open"})).json()["items"]

    assert [x["id"] for x in every] == [b["id"], a["id"]]
    assert [x["id"] for x in by_source] == [b["id"]]
    assert [x["id"] for x in by_operator] == [a["id"]]
    assert [x["id"] for x in open_ones] == [b["id"]]


async def test_over_two_thousand_appeals_each_operator_gets_the_share_their_weight_promises(settings, db):
    seeded = settings.model_copy(update={"lead_distribution_seed": 13})
    async with running_app(seeded) as (_, client):
        weights = {}
        for weight in (1, 2, 3, 4):
            operator = await make_operator(client, max_load=100_000)
            weights[operator["id"]] = weight
        source = await make_source(client, weights, sticky=False)

        # Eight at a time: with every operator always available each appeal takes the next number of the seeded
        # draw, whichever request it is, so the counts are the same in every run.
        made = []
        for _ in range(250):
            made += await asyncio.gather(*(appeal(client, source["id"]) for _ in range(8)))

    counts = Counter(m["operator_id"] for m in made)
    assert sum(counts.values()) == 2_000
    assert fair(counts, weights), (counts, chi_square(counts, weights))
