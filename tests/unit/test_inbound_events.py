"""What an inbound CloudEvent becomes: the event read from its body or headers, and the notification asked for."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from crm.domain.notifications.inbound import InvalidInboundEvent, notification_request
from crm.domain.notifications.inbound_repository import InboundEvent, Transport
from crm.domain.notifications.schemas import Channel, Recipient
from crm.infrastructure.events.inbound_reader import SdkCloudEventReader


def event(**data: Any) -> InboundEvent:
    return InboundEvent(id="e-1", source="billing", type="notifications.invoice", transport=Transport.AMQP, data=data)


@pytest.mark.parametrize(
    ("chat_id", "telegram_id"), [(123, "123"), (-1001234, "-1001234"), (42.0, "42"), ("@crm_alerts", "@crm_alerts")]
)
def test_a_chat_id_makes_a_telegram_recipient_on_telegram_and_the_stream(chat_id, telegram_id):
    request = notification_request(event(chatId=chat_id, text="hi"))
    assert request.recipients == [Recipient(telegram_id=telegram_id)]
    assert request.channel_overrides == [Channel.TELEGRAM, Channel.SSE]
    assert request.event_key == "notifications.invoice" and request.deduplication_key == "inbound:e-1"
    assert request.payload == {"chatId": chat_id, "text": "hi"}


def test_a_user_id_that_is_a_uuid_names_the_person_and_any_other_is_ignored():
    user = uuid.uuid4()
    assert notification_request(event(chatId=1, userId=str(user))).recipients == [
        Recipient(telegram_id="1", user_id=user)
    ]
    assert notification_request(event(chatId=1, userId="bob")).recipients == [Recipient(telegram_id="1")]


def test_an_event_naming_no_chat_is_for_the_staff_on_the_stream():
    request = notification_request(event(text="deploy finished"))
    assert request.recipients == [] and request.channel_overrides == [Channel.SSE]


@pytest.mark.parametrize("chat_id", [True, 1.5, "nobody", [1], 10**21])
def test_a_chat_id_that_names_no_chat_is_malformed(chat_id):
    with pytest.raises(InvalidInboundEvent) as refused:
        notification_request(event(chatId=chat_id))
    assert refused.value.field == "data.chatId"


def test_a_type_that_cannot_be_an_event_key_is_malformed():
    bad = InboundEvent(id="e", source="s", type="has space", transport=Transport.HTTP)
    with pytest.raises(InvalidInboundEvent) as refused:
        notification_request(bad)
    assert refused.value.field == "type"


def test_a_structured_content_type_wins_over_ce_headers():
    body = json.dumps({"specversion": "1.0", "id": "from-body", "source": "s", "type": "t", "data": {}}).encode()
    headers = {"content-type": "application/cloudevents+json", "ce-specversion": "1.0", "ce-id": "from-headers"}
    assert SdkCloudEventReader().read(body, headers, Transport.AMQP).id == "from-body"


def test_an_event_without_time_keeps_none_rather_than_the_sdks_now():
    body = json.dumps({"specversion": "1.0", "id": "x", "source": "s", "type": "t"}).encode()
    read = SdkCloudEventReader().read(body, {}, Transport.HTTP)
    assert read.time is None and read.data == {}
