"""The built-in templates the migration seeds: ru-RU, both channels, for every occasion crm-worker notifies of,
each rendering the payload fields that occasion sends."""

from __future__ import annotations

import asyncpg
import pytest

from crm.domain.notifications.rendering import TemplateRenderer
from crm.infrastructure.db.migrations import upgrade_to_head

# What the occasions send (tasks' reminders, payments due and overdue, policies to renew).
PAYMENT = {
    "payment_id": "p1",
    "policy_id": "pol1",
    "deal_id": "d1",
    "policy_number": "POL-77",
    "sequence": 2,
    "planned_date": "2026-12-04",
    "planned_amount": "1000.00",
    "currency": "RUB",
}
PAYLOADS = {
    "task.reminder": {
        "task_id": "t1",
        "title": "Позвонить клиенту",
        "remind_at": "2026-12-01T09:00:00+03:00",
        "due_at": None,
        "deal_id": None,
    },
    "payment.due": PAYMENT,
    "payment.overdue": PAYMENT,
    "policy.renewal": {
        "policy_id": "pol1",
        "policy_number": "POL-77",
        "effective_to": "2026-12-31",
        "client_id": "c1",
        "deal_id": "d1",
        "renewal_task_id": "t9",
    },
}
EXPECTED_FRAGMENTS = {
    "task.reminder": ["Позвонить клиенту", "2026-12-01T09:00:00+03:00", "t1"],
    "payment.due": ["POL-77", "1000.00 RUB", "2026-12-04", "№2"],
    "payment.overdue": ["POL-77", "1000.00 RUB", "2026-12-04", "№2"],
    "policy.renewal": ["POL-77", "2026-12-31", "t9"],
}


@pytest.fixture(scope="module")
def fresh_database(make_database) -> str:  # type: ignore[no-untyped-def]
    url = make_database("crm_seeds")
    upgrade_to_head(url)
    return url


async def test_every_occasion_has_a_built_in_template_on_both_channels_that_renders_its_payload(fresh_database):
    connection = await asyncpg.connect(fresh_database)
    try:
        rows = await connection.fetch(
            "SELECT key, channel, body FROM crm.notification_templates "
            "WHERE locale = 'ru-RU' AND status = 'active' AND NOT is_deleted"
        )
    finally:
        await connection.close()
    bodies = {(row["key"], row["channel"]): row["body"] for row in rows}
    renderer = TemplateRenderer()

    assert set(bodies) == {(key, channel) for key in PAYLOADS for channel in ("telegram", "sse")}
    for (key, _), body in bodies.items():
        text = renderer.render(body, PAYLOADS[key])
        assert text is not None, key
        for fragment in EXPECTED_FRAGMENTS[key]:
            assert fragment in text, (key, text)
    assert "Срок" not in renderer.render(bodies[("task.reminder", "telegram")], PAYLOADS["task.reminder"])  # type: ignore[operator]
