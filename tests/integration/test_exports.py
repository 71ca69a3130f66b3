"""Exports of clients, deals and payments: the files, their cells, the filters and limits they honour, and that
they are read from one snapshot without holding the table in memory."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from decimal import Decimal

import httpx
import pytest

from crm.domain.caller import SYSTEM
from crm.domain.clients.schemas import ClientFilter
from crm.domain.exports.columns import CLIENT_COLUMNS, DEAL_COLUMNS, PAYMENT_COLUMNS
from crm.domain.exports.schemas import ExportFormat
from tests.apps import running_app
from tests.auth import admin, bearer
from tests.exports import SHEET, cell_text, csv_records, csv_rows, export, export_refused, xlsx_cells, xlsx_records
from tests.factories import make_client, make_deal, make_policy
from tests.messaging.support import served_app
from tests.values import day

API = "/api/v1"
FILE_NAME = r'attachment; filename="{}-\d{{8}}T\d{{6}}Z\.{}"'


async def make_payment(api, deal, policy, **fields):
    body = {"planned_date": day(30), "planned_amount": "1000.00", **fields}
    response = await api.post(f"{API}/deals/{deal['id']}/policies/{policy['id']}/payments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(("what", "columns"), [("clients", CLIENT_COLUMNS), ("deals", DEAL_COLUMNS)])
async def test_an_export_is_a_csv_attachment_with_a_header_row_and_the_list_in_its_order(api, what, columns):
    for n in range(3):
        await make_deal(api, title=f"Deal {n}", next_review_at=day(3 - n))
    response = await export(api, what)
    assert re.fullmatch(FILE_NAME.format(what, "csv"), response.headers["content-disposition"])
    assert response.content.count(b"\r\n") == 4  # CRLF after the header and each row (RFC 4180)
    header, *rows = csv_rows(response)
    assert header == [column.name for column in columns]
    listed = (await api.get(f"{API}/{what}")).json()["items"]
    assert [row[0] for row in rows] == [item["id"] for item in listed]


async def test_cells_are_written_as_the_api_serves_them_with_exact_money_and_iso_dates(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    payment = await make_payment(api, deal, policy, planned_date=day(-5), planned_amount="999999999999.99")
    (row,) = csv_records(await export(api, "payments"))
    served = (await api.get(f"{API}/deals/{deal['id']}/policies/{policy['id']}/payments/{payment['id']}")).json()
    assert row["planned_amount"] == "999999999999.99" and row["net_total"] == "0.00"
    assert row["status"] == served["status"] == "overdue"  # derived, as of today
    assert row["planned_date"] == day(-5) and row["actual_date"] == "" and row["comment"] == ""
    assert datetime.fromisoformat(row["created_at"]) == datetime.fromisoformat(served["created_at"])
    assert row["created_at"].endswith("+00:00")
    assert {name: row[name] for name in ("id", "deal_id", "policy_id", "sequence", "currency", "version")} == {
        name: str(served[name]) for name in ("id", "deal_id", "policy_id", "sequence", "currency", "version")
    }


async def test_text_a_spreadsheet_would_run_as_a_formula_is_marked_with_an_apostrophe(api):
    names = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1)", "-2+3", "+cmd|' /C calc'!A0", 'Plain, "quoted"']
    for name in names:
        await make_client(api, name=name, phone="+7 495 123-45-67", email=None)
    await make_deal(api, description="\tcmd", title="Tab")
    rows = csv_records(await export(api, "clients"))
    assert sorted(row["name"] for row in rows) == sorted(
        [f"'{name}" for name in names[:4]] + [names[4], "Acme Logistics LLC"]
    )
    assert {row["phone"] for row in rows} == {"'+7 495 123-45-67"}
    (deal,) = csv_records(await export(api, "deals"))
    assert deal["description"] == "'\tcmd"


async def test_quotes_commas_and_line_breaks_survive_rfc_4180_quoting(api):
    name = 'Acme "Best", Ltd\nSecond line — Ёлки'
    await make_client(api, name=name, email=None, phone=None)
    (row,) = csv_records(await export(api, "clients"))
    assert row["name"] == name


async def test_the_deals_export_honours_every_filter_of_the_deals_list(api):
    seller = str(uuid.uuid4())
    first = await make_deal(api, title="Fleet CASCO", next_review_at=day(3), owner_id=seller)
    await make_deal(api, title="Cargo", status="in_progress", next_review_at=day(60))
    await make_deal(api, client_id=first["client_id"], title="Fleet OSAGO", next_review_at=day(100))
    for params in (
        {"stage": "negotiation"},
        {"status": "draft"},
        {"manager": seller},
        {"manager": "__NO_MANAGER__"},
        {"client_id": first["client_id"]},
        {"period": "7d"},
        {"search": "fleet"},
        {"search": "fleet", "period": "30d"},
    ):
        listed = {item["id"] for item in (await api.get(f"{API}/deals", params=params)).json()["items"]}
        exported = {row["id"] for row in csv_records(await export(api, "deals", **params))}
        assert exported == listed, params
        assert listed, params


async def test_the_clients_export_honours_every_filter_of_the_clients_list(api):
    owner = str(uuid.uuid4())
    await make_client(api, name="Alpha", status="prospect", owner_id=owner)
    await make_client(api, name="Beta", email="beta@example.org", phone=None)
    for params in ({"status": "prospect"}, {"owner_id": owner}, {"search": "beta@"}, {"search": "alp"}):
        listed = {item["id"] for item in (await api.get(f"{API}/clients", params=params)).json()["items"]}
        exported = {row["id"] for row in csv_records(await export(api, "clients", **params))}
        assert exported == listed and len(listed) == 1, params


async def test_the_payments_export_selects_by_deal_policy_client_and_planned_days(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    other_policy = await make_policy(api)
    early = await make_payment(api, deal, policy, planned_date=day(10))
    late = await make_payment(api, deal, policy, planned_date=day(40))
    elsewhere = await make_payment(api, {"id": other_policy["deal_id"]}, other_policy, planned_date=day(20))
    cases = {
        (): [early, elsewhere, late],
        (("deal_id", deal["id"]),): [early, late],
        (("policy_id", other_policy["id"]),): [elsewhere],
        (("client_id", deal["client_id"]),): [early, late],
        (("planned_from", day(15)),): [elsewhere, late],
        (("planned_to", day(20)),): [early, elsewhere],
        (("planned_from", day(11)), ("planned_to", day(39))): [elsewhere],
        (("planned_from", day(41)),): [],
    }
    for params, expected in cases.items():
        rows = csv_records(await export(api, "payments", **dict(params)))
        assert [row["id"] for row in rows] == [p["id"] for p in expected], params


async def test_deleted_records_and_payments_of_deleted_policies_are_not_exported(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    payment = await make_payment(api, deal, policy)
    gone = await make_client(api, name="Gone")
    assert (await api.delete(f"{API}/clients/{gone['id']}")).status_code == 204
    path = f"{API}/deals/{deal['id']}/policies/{policy['id']}/payments/{payment['id']}"
    assert (await api.delete(path)).status_code == 204
    assert [row["name"] for row in csv_records(await export(api, "clients"))] == ["Acme Logistics LLC"]
    assert csv_records(await export(api, "payments")) == []


async def test_a_seller_exports_only_what_they_see(api):
    seller, stranger = uuid.uuid4(), uuid.uuid4()
    mine = await api.post(f"{API}/clients", json={"name": "Mine"}, headers=bearer(seller, "seller"))
    await api.post(f"{API}/clients", json={"name": "Theirs"}, headers=bearer(stranger, "seller"))
    deal = await make_deal(api, client_id=mine.json()["id"], owner_id=str(seller))
    await make_deal(api)
    policy = await make_policy(api, deal, owner_id=str(seller))
    payment = await make_payment(api, deal, policy)
    other = await make_policy(api)
    await make_payment(api, {"id": other["deal_id"]}, other)
    as_seller = bearer(seller, "seller")
    clients = csv_records(await api.get(f"{API}/clients/export", headers=as_seller))
    deals = csv_records(await api.get(f"{API}/deals/export", headers=as_seller))
    payments = csv_records(await api.get(f"{API}/payments/export", headers=as_seller))
    assert [row["name"] for row in clients] == ["Mine"]
    assert [row["id"] for row in deals] == [deal["id"]]
    assert [row["id"] for row in payments] == [payment["id"]]
    assert csv_records(await api.get(f"{API}/payments/export", headers=bearer(stranger, "seller"))) == []


async def test_an_xlsx_export_is_a_workbook_of_typed_cells(api):
    deal = await make_deal(api, description="=cmd|' /C calc'!A0")
    policy = await make_policy(api, deal)
    await make_payment(api, deal, policy, planned_amount="1234567890.10", planned_date="2031-02-03", comment="\x01ok")
    response = await export(api, "payments", format="xlsx")
    assert re.fullmatch(FILE_NAME.format("payments", "xlsx"), response.headers["content-disposition"])
    assert int(response.headers["content-length"]) == len(response.content)
    header, row = xlsx_cells(response.content)
    names = [cell_text(cell) for cell in header]
    assert names == [column.name for column in PAYMENT_COLUMNS]
    cells = dict(zip(names, row + [None] * (len(names) - len(row)), strict=True))
    amount = cells["planned_amount"]
    assert amount is not None and amount.attrib.get("t") is None  # a number, written as its exact decimal text
    assert cell_text(amount) == "1234567890.10"
    assert Decimal(cell_text(cells["net_total"])) == 0
    assert cell_text(cells["planned_date"]) == str((datetime(2031, 2, 3) - datetime(1899, 12, 30)).days)
    assert cells["comment"].attrib["t"] == "inlineStr" and cell_text(cells["comment"]) == "_x0001_ok"
    assert cells["actual_date"] is None and cells["cancelled_at"] is None
    (deal_row,) = xlsx_records(await export(api, "deals", format="xlsx"))
    assert deal_row["description"] == "=cmd|' /C calc'!A0"  # a string cell, never a formula: no mark needed
    deals = xlsx_cells((await export(api, "deals", format="xlsx")).content)
    assert not [cell for row in deals for cell in row if cell is not None and cell.find(f"{SHEET}f") is not None]


async def test_an_empty_export_is_a_header_alone(api):
    assert csv_rows(await export(api, "payments")) == [[column.name for column in PAYMENT_COLUMNS]]
    assert xlsx_records(await export(api, "deals", format="xlsx")) == []


async def test_more_rows_than_the_format_holds_are_refused_before_anything_is_sent(settings, db):
    limited = settings.model_copy(update={"export_max_rows": 3, "export_xlsx_max_rows": 2})
    async with running_app(limited) as (_, api):
        for n in range(3):
            await make_client(api, name=f"Client {n}")
        assert len(csv_records(await export(api, "clients"))) == 3
        problem = await export_refused(api, "clients", 422, "export_too_large", format="xlsx")
        assert problem["errors"] == [{"field": "format", "message": "xlsx exports hold at most 2 rows"}]
        assert "export as CSV" in problem["detail"]
        assert len(xlsx_records(await export(api, "clients", format="xlsx", search="Client 1"))) == 1
        await make_client(api, name="Client 4")
        await export_refused(api, "clients", 422, "export_too_large")


async def test_an_export_reads_one_snapshot_whatever_changes_while_it_runs(app, api):
    for n in range(3):
        await make_client(api, name=f"Before {n}")
    running = await app.state.services.exports.clients(ClientFilter(), SYSTEM, ExportFormat.CSV)
    try:
        assert running.rows == 3
        await make_client(api, name="During")
        clients = (await api.get(f"{API}/clients")).json()["items"]
        await api.patch(f"{API}/clients/{clients[-1]['id']}", json={"name": "Renamed during"})
        names = [client.name for batch in [b async for b in running.batches()] for client in batch]
    finally:
        await running.close()
    assert sorted(names) == ["Before 0", "Before 1", "Before 2"]


async def test_a_process_runs_only_so_many_exports_at_once_and_each_gives_its_connection_back(settings, db):
    async with running_app(settings.model_copy(update={"export_concurrency": 1})) as (app, api):
        await make_client(api)
        running = await app.state.services.exports.clients(ClientFilter(), SYSTEM, ExportFormat.CSV)
        busy = await export_refused(api, "deals", 503, "exports_busy")
        assert busy["detail"]
        assert (await api.get(f"{API}/deals/export")).headers["retry-after"] == "5"
        await running.close()
        # More exports than the pool has connections, one after another: each gave its connection back.
        for _ in range(settings.db_pool_max_size + 2):
            await export(api, "clients")
            await export(api, "clients", format="xlsx")
        assert (await api.get(f"{API}/clients")).status_code == 200


async def test_twenty_thousand_clients_are_exported_in_batches_as_csv_and_xlsx(api, db):
    await db.execute(
        "INSERT INTO crm.clients (id, name, email, status)"
        " SELECT gen_random_uuid(), 'Client ' || n, 'c' || n || '@example.org', 'active'"
        " FROM generate_series(1, 20000) AS n"
    )
    rows = csv_rows(await export(api, "clients"))
    assert len(rows) == 20_001
    assert len({row[0] for row in rows[1:]}) == 20_000
    assert len(xlsx_cells((await export(api, "clients", format="xlsx", search="Client 1")).content)) == 11_112


async def test_a_download_abandoned_halfway_gives_its_connection_and_snapshot_back(settings, db):
    await db.execute(
        "INSERT INTO crm.clients (id, name, status) SELECT gen_random_uuid(), 'Client ' || n, 'active'"
        " FROM generate_series(1, 50000) AS n"
    )
    async with (
        served_app(settings.model_copy(update={"export_concurrency": 1})) as url,
        httpx.AsyncClient(base_url=url, timeout=10, headers=admin()) as http,
    ):
        async with http.stream("GET", f"{API}/clients/export") as response:
            assert response.status_code == 200
            first = await anext(response.aiter_bytes())
            assert first.startswith(b"id,name,")
        # The client went away: its export ends, and the one slot is free again.
        for _ in range(50):
            again = await http.get(f"{API}/deals/export")
            if again.status_code == 200:
                break
            assert again.status_code == 503
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        # Each export's snapshot is given back when it ends, the abandoned one's and (just after its last byte) the
        # second one's: within seconds, not when idle_in_transaction_session_timeout (60 s) would cut it off.
        for _ in range(50):
            idle = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'crm-api' AND state LIKE 'idle in transaction%'"
            )
            if idle == 0:
                break
            await asyncio.sleep(0.1)
        assert idle == 0
