"""Who an occasion notifies, on which channel, with which payload and key; and that a key fires once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm.domain.access import require_contacts_access
from crm.domain.caller import SYSTEM, Caller, Role
from crm.domain.errors import Forbidden
from crm.domain.notifications.schemas import Channel, Recipient
from crm.domain.occasions.payments import payment_notification
from crm.domain.occasions.recipients import audience, submit
from crm.domain.occasions.renewals import renewal_notification
from crm.domain.occasions.repository import PolicyParties
from crm.domain.payments.schemas import Payment
from crm.domain.policies.rules import has_expired, renewal_is_due
from crm.domain.policies.schemas import Policy, PolicyStatus
from crm.domain.tasks.schedule_jobs import reminder_notification
from crm.domain.tasks.schemas import Task, TaskReminder
from crm.domain.users.errors import TelegramIdRequired
from crm.domain.users.schemas import UserContacts, check_reachable
from tests.recording_intake import RecordingIntake

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
OWNER, DEAL_OWNER, ASSIGNEE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
RECORD = {"version": 1, "created_at": NOW, "updated_at": NOW}


def contacts(user_id: uuid.UUID, telegram_id: str | None, preferred: Channel = Channel.SSE) -> UserContacts:
    return UserContacts(user_id=user_id, telegram_id=telegram_id, preferred_channel=preferred, locale=None, **RECORD)


def parties(owner: uuid.UUID | None = OWNER, deal_owner: uuid.UUID | None = DEAL_OWNER) -> PolicyParties:
    return PolicyParties(uuid.uuid4(), "CASCO-1", uuid.uuid4(), uuid.uuid4(), owner, deal_owner)


def payment(of: PolicyParties) -> Payment:
    return Payment.model_validate(
        {
            "id": uuid.uuid4(),
            **RECORD,
            "deal_id": of.deal_id,
            "policy_id": of.policy_id,
            "sequence": 2,
            "planned_date": date(2027, 3, 3),
            "planned_amount": Decimal("1000"),
            "currency": "RUB",
            "actual_date": None,
            "status": "scheduled",
            "cancelled_at": None,
            "comment": None,
            "recorded_by_id": None,
            "incomes_total": Decimal("0"),
            "expenses_total": Decimal("0"),
            "net_total": Decimal("0"),
        }
    )


# --- whom, and where ----------------------------------------------------------------------------------------------


def test_nobody_means_the_staff_on_sse():
    assert audience(None, None, Channel.TELEGRAM) == audience(None, None) and audience(None, None).recipients == []
    assert audience(None, None).channel == Channel.SSE


def test_a_user_is_reached_on_their_preferred_channel_when_the_occasion_names_none():
    assert audience(OWNER, contacts(OWNER, "42", Channel.TELEGRAM)).channel == Channel.TELEGRAM
    assert audience(OWNER, contacts(OWNER, "42", Channel.SSE)).channel == Channel.SSE
    assert audience(OWNER, None).channel == Channel.SSE


def test_telegram_carries_the_users_chat_id_and_without_one_falls_back_to_sse():
    reached = audience(OWNER, contacts(OWNER, "42"), Channel.TELEGRAM)
    assert (reached.recipients, reached.channel) == ([Recipient(user_id=OWNER, telegram_id="42")], Channel.TELEGRAM)
    fallback = audience(OWNER, None, Channel.TELEGRAM)
    assert (fallback.recipients, fallback.channel) == ([Recipient(user_id=OWNER)], Channel.SSE)
    assert audience(OWNER, contacts(OWNER, "42"), Channel.SSE).recipients == [Recipient(user_id=OWNER)]


# --- payloads and keys --------------------------------------------------------------------------------------------


def test_a_payment_notice_goes_to_the_policy_owner_else_the_deal_owner():
    owned = parties()
    assert payment_notification("payment.due", payment(owned), owned, {}).recipients == [Recipient(user_id=OWNER)]
    unowned = parties(owner=None)
    notice = payment_notification("payment.overdue", payment(unowned), unowned, {})
    assert notice.recipients == [Recipient(user_id=DEAL_OWNER)]
    nobody = parties(owner=None, deal_owner=None)
    assert payment_notification("payment.due", payment(nobody), nobody, {}).recipients == []


def test_a_payment_notice_says_exactly_which_instalment_with_money_as_a_two_decimal_string():
    of = parties()
    due = payment(of)
    notice = payment_notification("payment.due", due, of, {OWNER: contacts(OWNER, "42", Channel.TELEGRAM)})
    assert notice.payload == {
        "payment_id": str(due.id),
        "policy_id": str(of.policy_id),
        "deal_id": str(of.deal_id),
        "policy_number": "CASCO-1",
        "sequence": 2,
        "planned_date": "2027-03-03",
        "planned_amount": "1000.00",
        "currency": "RUB",
    }
    assert notice.deduplication_key == f"payment.due:{due.id}:2027-03-03"
    assert notice.channel_overrides == [Channel.TELEGRAM]


def test_a_reminder_notice_carries_the_task_and_is_keyed_by_the_reminder():
    task = Task.model_validate(
        {
            "id": uuid.uuid4(),
            **RECORD,
            "title": "Call the client",
            "description": None,
            "status": "pending",
            "priority": "normal",
            "assignee_id": ASSIGNEE,
            "author_id": None,
            "due_at": NOW,
            "scheduled_for": None,
            "completed_at": None,
            "cancelled_reason": None,
            "deal_id": None,
            "client_id": None,
            "policy_id": None,
            "payment_id": None,
            "context": {},
            "payload": {},
        }
    )
    reminder = TaskReminder(id=uuid.uuid4(), task_id=task.id, remind_at=NOW, channel="telegram", created_at=NOW)

    notice = reminder_notification(reminder, task, {})

    assert notice.payload == {
        "task_id": str(task.id),
        "title": "Call the client",
        "remind_at": NOW.isoformat(),
        "due_at": NOW.isoformat(),
        "deal_id": None,
    }
    assert (notice.event_key, notice.deduplication_key) == ("task.reminder", f"task.reminder:{reminder.id}")
    assert (notice.recipients, notice.channel_overrides) == ([Recipient(user_id=ASSIGNEE)], [Channel.SSE])
    unassigned = reminder_notification(reminder, task.model_copy(update={"assignee_id": None}), {})
    assert unassigned.recipients == []


def test_a_renewal_notice_names_the_policy_and_its_renewal_task():
    of = parties()
    policy = Policy.model_validate(
        {
            "id": of.policy_id,
            **RECORD,
            "policy_number": "CASCO-1",
            "client_id": of.client_id,
            "deal_id": of.deal_id,
            "calculation_id": None,
            "owner_id": OWNER,
            "status": "active",
            "premium": Decimal("1"),
            "currency": "RUB",
            "effective_from": date(2026, 4, 1),
            "effective_to": date(2027, 3, 31),
        }
    )
    task_id = uuid.uuid4()

    notice = renewal_notification(policy, of, task_id, {})

    assert notice.payload == {
        "policy_id": str(policy.id),
        "policy_number": "CASCO-1",
        "effective_to": "2027-03-31",
        "client_id": str(of.client_id),
        "deal_id": str(of.deal_id),
        "renewal_task_id": str(task_id),
    }
    assert notice.deduplication_key == f"policy.renewal:{policy.id}:2027-03-31"


# --- once -------------------------------------------------------------------------------------------------------


def test_an_occasion_handed_over_twice_is_taken_once():
    of = parties()
    notice = payment_notification("payment.due", payment(of), of, {})
    intake = RecordingIntake()

    async def twice() -> list[int]:
        return [await submit(intake, None, [notice]), await submit(intake, None, [notice])]  # type: ignore[arg-type]

    assert asyncio.run(twice()) == [1, 0]
    assert intake.requests == [notice] and intake.actors == [SYSTEM]


# --- the rules behind them ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ends_in", "due"),
    [
        (PolicyStatus.ACTIVE, 0, True),
        (PolicyStatus.ACTIVE, 30, True),
        (PolicyStatus.ACTIVE, 31, False),
        (PolicyStatus.ACTIVE, -1, False),
        (PolicyStatus.PENDING_RENEWAL, 10, False),
        (PolicyStatus.DRAFT, 10, False),
        (PolicyStatus.CLOSED, 10, False),
    ],
)
def test_an_active_policy_is_renewed_within_the_notice_days_of_its_end(status, ends_in, due):
    today = date(2027, 3, 1)
    assert renewal_is_due(status, date.fromordinal(today.toordinal() + ends_in), today, 30) is due


@pytest.mark.parametrize(
    ("status", "expired"),
    [
        (PolicyStatus.ACTIVE, True),
        (PolicyStatus.PENDING_RENEWAL, True),
        (PolicyStatus.CANCELLED, False),
        (PolicyStatus.CLOSED, False),
        (PolicyStatus.DRAFT, False),
    ],
)
def test_an_unrenewed_policy_expires_the_day_after_its_last(status, expired):
    assert has_expired(status, date(2027, 2, 28), date(2027, 3, 1)) is expired
    assert has_expired(status, date(2027, 3, 1), date(2027, 3, 1)) is False


def test_telegram_is_preferred_only_by_someone_it_reaches():
    with pytest.raises(TelegramIdRequired) as refused:
        check_reachable(Channel.TELEGRAM, None)
    assert [problem.field for problem in refused.value.errors] == ["telegram_id"]
    check_reachable(Channel.TELEGRAM, "42")
    check_reachable(Channel.SSE, None)


@pytest.mark.parametrize(
    ("caller", "read", "change"),
    [
        (Caller(actor_id=OWNER, roles=frozenset({Role.SELLER})), True, True),
        (Caller(actor_id=uuid.uuid4(), roles=frozenset({Role.ADMIN})), True, True),
        (Caller(actor_id=uuid.uuid4(), roles=frozenset({Role.MANAGER})), True, False),
        (Caller(actor_id=uuid.uuid4(), roles=frozenset({Role.SELLER})), False, False),
        (Caller(actor_id=uuid.uuid4(), roles=frozenset({Role.EXECUTOR})), False, False),
    ],
)
def test_a_users_contacts_are_theirs_and_the_admins(caller, read, change):
    for wanted, allowed in ((False, read), (True, change)):
        if allowed:
            require_contacts_access(caller, OWNER, change=wanted)
        else:
            with pytest.raises(Forbidden):
                require_contacts_access(caller, OWNER, change=wanted)
