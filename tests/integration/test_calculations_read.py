"""Reading one calculation; what every route answers when it cannot reach one (unknown, malformed, deal gone)."""

from __future__ import annotations

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import COMPLETE, make_calculation, move, url
from tests.values import MISSING


async def test_get_calculation_with_etag_and_not_modified(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal)
    response = await api.get(url(deal, made))
    assert response.status_code == 200
    assert response.json() == made
    assert response.headers["etag"] == '"1"'
    assert (await api.get(url(deal, made), headers={"If-None-Match": '"1"'})).status_code == 304


async def test_unknown_calculation_is_404(api):
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal, MISSING)), 404, "calculation_not_found")


async def test_malformed_ids_in_the_path_are_422(api):
    assert_problem(await api.get("/api/v1/deals/nope/calculations"), 422, "validation_error", "deal_id")
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal, "nope")), 422, "validation_error", "calculation_id")


async def test_calculation_of_another_deal_is_404_on_every_route(api):
    deal, other = await make_deal(api), await make_deal(api)
    made = await make_calculation(api, deal)
    assert_problem(await api.get(url(other, made)), 404, "calculation_not_found")
    assert_problem(await api.patch(url(other, made), json={"comments": "x"}), 404, "calculation_not_found")
    assert_problem(await move(api, other, made, "ready"), 404, "calculation_not_found")
    assert_problem(await api.delete(url(other, made)), 404, "calculation_not_found")


async def test_every_route_of_a_deleted_deal_is_404_deal_not_found(api):
    deal = await make_deal(api)
    made = await make_calculation(api, deal, **COMPLETE)
    await api.delete(f"/api/v1/deals/{deal['id']}")
    assert_problem(await api.get(url(deal)), 404, "deal_not_found")
    assert_problem(await api.get(url(deal, made)), 404, "deal_not_found")
    assert_problem(await api.patch(url(deal, made), json={"comments": "x"}), 404, "deal_not_found")
    assert_problem(await move(api, deal, made, "ready"), 404, "deal_not_found")
    assert_problem(await api.delete(url(deal, made)), 404, "deal_not_found")
