"""Notification rules without I/O: the status a notification derives from its deliveries, who gets which
channel, the retry schedule, and rendering that never raises."""

from __future__ import annotations

import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.domain.errors import RuleViolation
from crm.domain.notifications.delivery import THROTTLED_ALLOWANCE, RetryPolicy
from crm.domain.notifications.intake import NO_TELEGRAM_ID, refusal, targets
from crm.domain.notifications.records import (
    DeliveryState,
    DeliveryStatus,
    NotificationStatus,
    SendOutcome,
    notification_status,
)
from crm.domain.notifications.rendering import MAX_TEXT, TemplateRenderer, summary
from crm.domain.notifications.schemas import Channel, NotificationRequest

PENDING, DELIVERED, FAILED = DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("states", "status"),
    [
        ([], NotificationStatus.PROCESSED),
        ([(PENDING, False), (PENDING, False)], NotificationStatus.PENDING),
        ([(PENDING, True), (PENDING, False)], NotificationStatus.QUEUED),
        ([(DELIVERED, True), (PENDING, False)], NotificationStatus.QUEUED),
        ([(DELIVERED, True), (DELIVERED, True)], NotificationStatus.DELIVERED),
        ([(FAILED, True), (FAILED, False)], NotificationStatus.FAILED),
        ([(DELIVERED, True), (FAILED, True)], NotificationStatus.PROCESSED),
    ],
)
def test_a_notification_status_follows_from_its_deliveries(states, status):
    assert notification_status(DeliveryState(s, taken) for s, taken in states) == status


def test_each_recipient_gets_telegram_for_a_chat_and_the_stream_for_a_user_unless_overridden():
    user = uuid.uuid4()
    both = NotificationRequest(event_key="e", recipients=[{"user_id": user, "telegram_id": "7"}])
    overridden = NotificationRequest(event_key="e", recipients=[{"telegramId": "7"}], channelOverrides=["sse"])
    staff = NotificationRequest(event_key="e")

    assert targets(both) == [(Channel.TELEGRAM, user, "7"), (Channel.SSE, user, "7")]
    assert targets(overridden) == [(Channel.SSE, None, "7")]
    assert refusal(Channel.SSE, None, "7") is None  # a chat with no user: the staff see it on the stream
    assert refusal(Channel.TELEGRAM, user, None) == NO_TELEGRAM_ID
    assert targets(staff) == [(Channel.SSE, None, None)] and refusal(Channel.SSE, None, None) is None
    assert targets(NotificationRequest(event_key="e", channel_overrides=["telegram"])) == []


def policy(jitter: float = 1.0) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=4, base_seconds=2, max_seconds=5, lease=timedelta(seconds=30), jitter=lambda: jitter
    )


def test_retries_back_off_exponentially_with_jitter_up_to_a_ceiling():
    failed = SendOutcome.failed("down")
    assert policy().next_try(1, failed, NOW) == NOW + timedelta(seconds=2)
    assert policy().next_try(2, failed, NOW) == NOW + timedelta(seconds=4)
    assert policy().next_try(3, failed, NOW) == NOW + timedelta(seconds=5)
    assert policy(jitter=0.0).next_try(2, failed, NOW) == NOW + timedelta(seconds=2)


def test_no_retry_after_the_last_attempt_or_a_refusal_for_good_and_a_requested_wait_is_kept():
    assert policy().next_try(4, SendOutcome.failed("down"), NOW) is None
    assert policy().next_try(1, SendOutcome.failed("chat not found", permanent=True), NOW) is None
    assert policy().next_try(1, SendOutcome.failed("429", retry_after=30), NOW) == NOW + timedelta(seconds=30)


def test_a_channel_asking_to_slow_down_is_waited_for_beyond_the_attempt_limit_within_an_allowance():
    throttled = SendOutcome.failed("429", retry_after=3)
    assert policy().next_try(4, throttled, NOW) == NOW + timedelta(seconds=3)
    assert policy().next_try(4 * THROTTLED_ALLOWANCE - 1, throttled, NOW) == NOW + timedelta(seconds=3)
    assert policy().next_try(4 * THROTTLED_ALLOWANCE, throttled, NOW) is None


def test_a_body_that_does_not_compile_is_a_rule_violation_naming_body():
    with pytest.raises(RuleViolation) as refused:
        TemplateRenderer().check("{% if x %}")
    assert refused.value.errors[0].field == "body"


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(100000000) %}{% endfor %}",
        "{% for i in range(5000) %}{{ 'y' * 50 }}{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{{ x.y.z }}",
        "{{ x / 0 }}",
        # Widths and paddings that would allocate a gigabyte are refused before anything is allocated.
        "{{ 'a'.ljust(10 ** 9) }}",
        "{{ 'a' | center(10 ** 9) }}",
        "{{ 'a' | indent(10 ** 8, true) }}",
        "{{ '%1000000000s' % 'x' }}",
        "{{ '%*s' % (1000000000, 'x') }}",
        "{{ '%1000000000s' | format('x') }}",
        "{{ '{:>1000000000}'.format('x') }}",
        "{{ '{a:>1000000000}'.format_map({'a': 1}) }}",
    ],
)
def test_a_body_that_fails_or_runs_away_renders_nothing_instead_of_raising(body):
    tracemalloc.start()
    try:
        assert TemplateRenderer().render(body, {"x": 1}) is None
        assert tracemalloc.get_traced_memory()[1] < 16 * 1024 * 1024
    finally:
        tracemalloc.stop()


def test_widths_and_formats_of_ordinary_size_render():
    body = "{{ '%05.1f' % x }} {{ 'ab' | center(6) }}|{{ '{:>4}'.format(x) }}|{{ 'a'.ljust(3) }}|"
    assert TemplateRenderer().render(body, {"x": 2.25}) == "002.2   ab  |2.25|a  |"


def test_a_body_nested_too_deeply_is_a_rule_violation_naming_body_not_an_error():
    with pytest.raises(RuleViolation) as refused:
        TemplateRenderer().check("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    assert refused.value.errors[0].field == "body"


def test_bodies_render_plain_text_without_escaping():
    assert TemplateRenderer().render("<b>{{ name }}</b> & co", {"name": "A&B"}) == "<b>A&B</b> & co"


def test_the_summary_names_the_event_its_time_and_each_payload_field_and_stays_within_telegram_limits():
    at = datetime(2026, 12, 1, 9, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    assert (
        summary("payment.due", {"amount": "10.00", "n": 2, "tags": ["a"]}, at)
        == 'payment.due · 2026-12-01 09:30 MSK\namount: 10.00\nn: 2\ntags: ["a"]'
    )
    assert len(summary("e", {f"k{i}": "v" * 150 for i in range(100)}, at)) == MAX_TEXT
