"""A deleted calculation comes back with POST …/restore, without the policy link its delete dropped."""

from __future__ import annotations

from tests.factories import assert_problem, make_deal
from tests.integration import calculations
from tests.integration.calculations import make_calculation
from tests.outbox import routing_keys


async def test_a_deleted_calculation_is_restored_with_its_event(api, db):
    deal = await make_deal(api)
    calculation = await make_calculation(api, deal)
    url = calculations.url(deal, calculation)
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404

    restored = await api.post(f"{url}/restore")

    assert restored.status_code == 200, restored.text
    assert (restored.json()["is_deleted"], restored.json()["version"]) == (False, calculation["version"] + 2)
    assert restored.headers["etag"] == f'"{calculation["version"] + 2}"'
    assert (await api.get(url)).json() == restored.json()
    assert (await routing_keys(db))[-1] == "deal.calculation.restored"


async def test_restoring_a_live_calculation_changes_nothing(api, db):
    deal = await make_deal(api)
    calculation = await make_calculation(api, deal)
    before = await routing_keys(db)

    response = await api.post(calculations.url(deal, calculation, "/restore"))

    assert response.status_code == 200
    assert response.json()["version"] == calculation["version"]
    assert await routing_keys(db) == before


async def test_a_calculation_of_another_deal_is_not_restored(api):
    deal, other = await make_deal(api), await make_deal(api)
    calculation = await make_calculation(api, deal)
    await api.delete(calculations.url(deal, calculation))

    response = await api.post(calculations.url(other, calculation, "/restore"))

    assert_problem(response, 404, "calculation_not_found")
