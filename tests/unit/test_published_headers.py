"""What a published message carries besides its CloudEvent: the trace id, and the automation rules that caused it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from crm.infrastructure.db.outbox import CAUSE_HEADER, PendingEvent, event_headers
from crm.infrastructure.events.publisher import to_properties

CLOUDEVENT = json.dumps(
    {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "crm.deal.stage.changed",
        "source": "crm.deals",
        "subject": str(uuid.uuid4()),
        "time": "2026-12-02T01:00:00Z",
        "datacontenttype": "application/json",
        "data": {},
    }
)


def pending(headers: dict[str, object]) -> PendingEvent:
    return PendingEvent(
        sequence=1,
        event_id=uuid.uuid4(),
        routing_key="deal.stage.changed",
        cloudevent=CLOUDEVENT,
        headers=headers,
        created_at=datetime.now(UTC),
        specversion="1.0",
        type="crm.deal.stage.changed",
        source="crm.deals",
    )


def test_a_message_names_the_rules_that_caused_its_event_first_to_last():
    first, second = uuid.uuid4(), uuid.uuid4()
    stored = json.loads(json.dumps(event_headers("trace-1", (first, second))))
    message = to_properties(pending(stored))
    assert message.headers[CAUSE_HEADER] == f"{first},{second}"
    assert message.headers["x-trace-id"] == "trace-1"


def test_a_message_of_a_person_s_change_has_no_cause():
    message = to_properties(pending(event_headers(None, ())))
    assert CAUSE_HEADER not in message.headers and "x-trace-id" not in message.headers
