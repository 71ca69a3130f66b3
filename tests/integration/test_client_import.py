"""Clients imported from a CSV file: every row checked as a single create is, then all created with their events
in one transaction, or none; a dry run that writes nothing; what a file may and may not be."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.auth import bearer
from tests.exports import csv_records, export
from tests.factories import assert_problem, make_client

IMPORT = "/api/v1/clients/import"
CSV = {"Content-Type": "text/csv"}


async def post_csv(
    api: httpx.AsyncClient, body: str | bytes, *, dry_run: bool = False, headers: dict[str, str] | None = None
) -> httpx.Response:
    params = {"dry_run": "true"} if dry_run else {}
    return await api.post(IMPORT, content=body, params=params, headers={**CSV, **(headers or {})})


GOOD = (
    "name,email,phone,status,owner_id\r\n"
    "Acme Logistics LLC,office@acme.example,+7 495 123-45-67,active,\r\n"
    "Борей ООО,,,prospect,0b9c7f5e-3f1a-4d2b-9a8e-6c5d4b3a2f10\r\n"
    '"Ltd ""Quoted, Inc""",,8 800 555-35-35,,\r\n'
)


async def count(db, table: str = "clients") -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM crm.{table}"))


async def test_an_import_creates_every_row_and_answers_their_ids_in_row_order(api):
    response = await post_csv(api, GOOD)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report == {**report, "dry_run": False, "rows": 3, "created": 3}
    created = [(await api.get(f"/api/v1/clients/{i}")).json() for i in report["ids"]]
    assert [(c["name"], c["email"], c["phone"], c["status"], c["owner_id"]) for c in created] == [
        ("Acme Logistics LLC", "office@acme.example", "+7 495 123-45-67", "active", None),
        ("Борей ООО", None, None, "prospect", "0b9c7f5e-3f1a-4d2b-9a8e-6c5d4b3a2f10"),
        ('Ltd "Quoted, Inc"', None, "8 800 555-35-35", "active", None),
    ]


async def test_each_imported_client_is_announced_with_client_created(api, db):
    report = (await post_csv(api, GOOD)).json()
    rows = await db.fetch(
        "SELECT routing_key, aggregate_id, payload FROM crm.outbox WHERE routing_key LIKE 'client.%' ORDER BY id"
    )
    assert [r["routing_key"] for r in rows] == ["client.created"] * 3
    assert [str(r["aggregate_id"]) for r in rows] == report["ids"]
    assert [json.loads(r["payload"])["data"]["name"] for r in rows][1] == "Борей ООО"


async def test_a_dry_run_checks_every_row_and_writes_nothing(api, db):
    response = await post_csv(api, GOOD, dry_run=True)
    assert response.status_code == 200, response.text
    assert response.json() == {"dry_run": True, "rows": 3, "created": 0, "ids": []}
    assert await count(db) == 0 and await count(db, "outbox") == 0


BAD = (
    "name,email,phone,status,owner_id\r\n"
    "Good One,,,,\r\n"
    "Bad Mail,not-an-email,,,\r\n"
    "\r\n"
    ",,abc,closed,me\r\n"
    '"Two\r\nlines",,,,\r\n'
    "Short,row\r\n"
    "Nul\x00Name,,,,\r\n"
)
# (line, field) of each problem, in the order of the lines, then the row's fields.
BAD_ROWS = [(3, "email"), (5, "name"), (5, "phone"), (5, "status"), (5, "owner_id"), (8, "row"), (9, "name")]


def where(errors):
    return [(e["row"], e["field"]) for e in errors]


async def test_one_bad_row_refuses_the_file_naming_every_problem_by_line_and_field(api, db):
    body = assert_problem(await post_csv(api, BAD), 422, "invalid_rows")
    assert where(body["errors"]) == BAD_ROWS
    messages = {(e["row"], e["field"]): e["message"] for e in body["errors"]}
    assert messages[3, "email"] == "must be an email address such as office@acme.example"
    assert messages[5, "name"] == "must not be blank"
    assert messages[8, "row"] == "has 2 cells; the header has 5"
    assert messages[9, "name"] == "must not contain NUL characters"
    assert body["detail"] == "4 row(s) cannot be imported; nothing was written."
    assert await count(db) == 0 and await count(db, "outbox") == 0


async def test_a_dry_run_reports_the_same_problems(api, db):
    body = assert_problem(await post_csv(api, BAD, dry_run=True), 422, "invalid_rows")
    assert where(body["errors"]) == BAD_ROWS


async def test_a_clients_export_imports_back_as_the_same_clients(api, db):
    owner = str(uuid.uuid4())
    await make_client(api, name="=1+2 Formula Ltd", phone="+7 (900) 000-00-01", email="a@b.example", owner_id=owner)
    await make_client(api, name='Line\nbreak, "quotes" and Ёжик', phone=None, email=None, status="inactive")
    await make_client(api, name="-minus", phone="8 800 200-00-00", email="x@y.example", status="prospect")
    before = csv_records(await export(api, "clients"))
    exported = (await export(api, "clients")).content
    await db.execute("TRUNCATE crm.clients, crm.outbox CASCADE")
    response = await post_csv(api, exported)
    assert response.status_code == 201, response.text
    after = csv_records(await export(api, "clients"))

    def data(rows):
        return sorted((r["name"], r["email"], r["phone"], r["status"], r["owner_id"]) for r in rows)

    assert data(after) == data(before) and len(after) == 3
    assert {r["id"] for r in after}.isdisjoint({r["id"] for r in before})  # imports always create


async def test_a_byte_order_mark_and_header_case_and_spaces_are_accepted(api):
    response = await post_csv(api, "\ufeff Name ,EMAIL\nAcme,office@acme.example\n".encode())
    assert response.status_code == 201, response.text


async def test_unknown_repeated_or_missing_columns_are_refused_by_name(api, db):
    unknown = assert_problem(await post_csv(api, "name,fax,vip\r\nAcme,1,2\r\n"), 422, "invalid_csv")
    assert unknown["errors"] == [
        {"field": "fax", "message": "is not a client field", "row": 1},
        {"field": "vip", "message": "is not a client field", "row": 1},
    ]
    repeated = assert_problem(await post_csv(api, "name,Name\r\nA,B\r\n"), 422, "invalid_csv", "name")
    assert repeated["errors"][0]["message"] == "is named more than once"
    missing = assert_problem(await post_csv(api, "email\r\na@b.example\r\n"), 422, "invalid_csv", "name")
    assert missing["errors"][0]["message"] == "column missing"
    assert await count(db) == 0


async def test_a_file_that_cannot_be_read_is_refused_naming_the_line(api, db):
    not_utf8 = assert_problem(await post_csv(api, b"name\r\nAcme\r\nCaf\xe9\r\n"), 422, "invalid_csv", "body")
    assert not_utf8["errors"] == [{"field": "body", "message": "must be UTF-8 text", "row": 3}]
    unclosed = assert_problem(await post_csv(api, 'name\r\nAcme\r\n"Open,\r\n'), 422, "invalid_csv", "body")
    assert unclosed["errors"][0]["row"] == 3
    stray = assert_problem(await post_csv(api, 'name\r\n"Ac"me\r\n'), 422, "invalid_csv", "body")
    assert stray["errors"][0]["row"] == 2
    assert_problem(await post_csv(api, ""), 422, "invalid_csv", "body")
    assert_problem(await post_csv(api, "name\r\n\r\n"), 422, "invalid_csv", "body")
    assert await count(db) == 0


async def test_more_rows_than_the_limit_are_refused(api, db):
    body = "name\r\n" + "".join(f"Client {n}\r\n" for n in range(10_001))
    problem = assert_problem(await post_csv(api, body, dry_run=True), 422, "invalid_csv", "body")
    assert problem["errors"] == [{"field": "body", "message": "at most 10000 rows", "row": 10_002}]


async def test_ten_thousand_rows_over_the_general_body_limit_are_imported_at_once(api, db):
    body = "name,email\r\n" + "".join(f"Client {n:05} {'x' * 150},c{n}@example.org\r\n" for n in range(10_000))
    assert len(body) > 1_048_576  # over CRM_MAX_BODY_BYTES: the import has a limit of its own
    response = await post_csv(api, body)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 10_000
    assert await count(db) == 10_000 and await count(db, "outbox") == 10_000


async def test_a_body_over_the_import_limit_is_refused_unread(api, db):
    body = b"name\r\n" + b"x" * 16_777_216
    assert_problem(await post_csv(api, body), 413, "payload_too_large")
    assert await count(db) == 0


async def test_only_text_csv_is_taken(api, db):
    for content_type in (
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "text/csv; charset=latin-1",
    ):
        body = assert_problem(
            await api.post(IMPORT, content="name\r\nAcme\r\n", headers={"Content-Type": content_type}),
            415,
            "unsupported_media_type",
            "Content-Type",
        )
        assert body["detail"]
    with_charset = await api.post(IMPORT, content="name\r\nA\r\n", headers={"Content-Type": "text/csv; charset=UTF-8"})
    assert with_charset.status_code == 201, with_charset.text


async def test_a_seller_owns_what_they_import_and_may_not_assign_it_to_someone_else(api):
    seller = uuid.uuid4()
    as_seller = bearer(seller, "seller")
    mine = await post_csv(api, f"name,owner_id\r\nMine,\r\nAlso mine,{seller}\r\n", headers=as_seller)
    assert mine.status_code == 201, mine.text
    owners = {(await api.get(f"/api/v1/clients/{i}")).json()["owner_id"] for i in mine.json()["ids"]}
    assert owners == {str(seller)}
    theirs = await post_csv(api, f"name,owner_id\r\nTheirs,{uuid.uuid4()}\r\n", headers=as_seller)
    body = assert_problem(theirs, 422, "invalid_rows")
    assert body["errors"] == [{"row": 2, "field": "owner_id", "message": "must be your own id"}]


async def test_an_executor_may_not_import(api, db):
    assert_problem(await post_csv(api, GOOD, headers=bearer(uuid.uuid4(), "executor")), 403, "forbidden")
    assert await count(db) == 0


async def test_a_retried_import_with_the_same_key_creates_once(api, db):
    key = {"Idempotency-Key": f"import-{uuid.uuid4()}"}
    first = await post_csv(api, GOOD, headers=key)
    again = await post_csv(api, GOOD, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await count(db) == 3
    other = await post_csv(api, GOOD.replace("Acme", "Other"), headers=key)
    assert_problem(other, 422, "idempotency_key_reused")
