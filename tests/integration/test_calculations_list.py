"""Listing a deal's calculations: oldest first, keyset pages, filters, and the errors of the query."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem, make_deal
from tests.integration.calculations import make_calculation, make_in_status, url
from tests.values import MISSING, day


async def test_list_of_unknown_deal_is_404(api):
    assert_problem(await api.get(url({"id": MISSING})), 404, "deal_not_found")


async def test_list_is_oldest_first_and_only_this_deal(api):
    deal, other = await make_deal(api), await make_deal(api)
    made = [await make_calculation(api, deal, insurance_company=f"Insurer {i}") for i in range(3)]
    await make_calculation(api, other)
    await api.patch(url(deal, made[0]), json={"comments": "touched"})  # updates do not reorder
    items = (await api.get(url(deal))).json()["items"]
    assert [c["id"] for c in items] == [c["id"] for c in made]


async def test_list_pages_cover_every_calculation_once(api):
    deal = await make_deal(api)
    made = [(await make_calculation(api, deal))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, "with_total": "true", **({"cursor": cursor} if cursor else {})}
        page = (await api.get(url(deal), params=params)).json()
        assert page["total"] == 7
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


async def test_list_filters(api):
    deal = await make_deal(api)
    ingo = await make_in_status(api, deal, "ready", insurance_company="Ingosstrakh", calculation_date=day(-10))
    alfa = await make_calculation(api, deal, insurance_company="AlfaStrakhovanie", calculation_date=day(-5))
    reso = await make_in_status(api, deal, "archived", insurance_company="RESO 100%", calculation_date=day(0))

    async def ids(params):
        response = await api.get(url(deal), params=params)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    assert await ids({"status": "ready"}) == {ingo["id"]}
    assert await ids({"status": ["draft", "archived"]}) == {alfa["id"], reso["id"]}
    assert await ids({"insurance_company": "STRAKH"}) == {ingo["id"], alfa["id"]}
    assert await ids({"insurance_company": "100%"}) == {reso["id"]}
    assert await ids({"insurance_company": "%"}) == {reso["id"]}  # wildcards are literal
    assert await ids({"insurance_company": "_"}) == set()
    assert await ids({"calculation_date_from": day(-5)}) == {alfa["id"], reso["id"]}
    assert await ids({"calculation_date_to": day(-5)}) == {ingo["id"], alfa["id"]}
    assert await ids({"calculation_date_from": day(-5), "calculation_date_to": day(-5)}) == {alfa["id"]}
    assert await ids({"calculation_date_from": day(1)}) == set()
    total = (await api.get(url(deal), params={"status": "draft", "with_total": "true"})).json()["total"]
    assert total == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "open"}, "status"),
        ({"calculation_date_from": "yesterday"}, "calculation_date_from"),
        ({"calculation_date_to": "2026-13-01"}, "calculation_date_to"),
        ({"insurance_company": ""}, "insurance_company"),
        ({"insurance_company": "x" * 201}, "insurance_company"),
        ({"insurance_company": "a\x00b"}, "insurance_company"),
        ({"limit": 4294967296}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_invalid_list_parameters_are_422(api, params, field):
    deal = await make_deal(api)
    assert_problem(await api.get(url(deal), params=params), 422, "validation_error", field)


async def test_foreign_cursor_is_400(api):
    deal = await make_deal(api)
    await make_deal(api)
    for _ in range(2):
        await make_calculation(api, deal)
    deals_cursor = (await api.get("/api/v1/deals", params={"limit": 1})).json()["next_cursor"]
    assert_problem(await api.get(url(deal), params={"cursor": deals_cursor}), 400, "invalid_cursor")
    assert_problem(await api.get(url(deal), params={"cursor": "garbage!"}), 400, "invalid_cursor")
