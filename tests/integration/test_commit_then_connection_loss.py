"""A change that committed is a success, whatever happens to its connection afterwards."""

from __future__ import annotations

import asyncpg

from tests.factories import make_client


async def test_a_committed_write_answers_success_when_its_connection_breaks_on_release(api, db, monkeypatch):
    client = await make_client(api)

    async def release_broken(self, connection, *, timeout=None):  # type: ignore[no-untyped-def]
        connection.terminate()  # what asyncpg does when resetting a connection fails
        raise ConnectionResetError("connection reset by peer")

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.pool.Pool, "release", release_broken)
        response = await api.post(
            "/api/v1/deals", json={"client_id": client["id"], "title": "Kept", "next_review_at": "2027-01-10"}
        )

    assert response.status_code == 201, response.text
    assert await db.fetchval("SELECT count(*) FROM crm.deals WHERE title = 'Kept'") == 1
    # The pool replaced the broken connection: the next requests are served as usual.
    for _ in range(12):
        assert (await api.get(f"/api/v1/deals/{response.json()['id']}")).status_code == 200
