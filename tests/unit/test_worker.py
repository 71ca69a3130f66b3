"""crm-worker's Celery set-up and the rules of its jobs, without a broker or a database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.app.config import Settings
from crm.app.jobs import (
    AUTOMATION_EVENTS_BUDGET_SECONDS,
    AUTOMATION_TIMERS_BUDGET_SECONDS,
    DELIVERY_BUDGET_SECONDS,
    JOBS,
)
from crm.app.worker import (
    MAX_RETRIES,
    RETRY_BACKOFF_MAX,
    TASK_TIME_LIMIT,
    BrokerNotConfigured,
    Redelivery,
    create_celery_app,
    main,
    task_name,
)
from crm.domain.payments.overdue import status_before_overdue
from crm.domain.payments.schemas import Payment, PaymentStatus
from crm.domain.tasks.rules import ReminderChannel, TaskPriority, TaskStatus
from crm.domain.tasks.schedule_jobs import reminder_event, reminder_is_wanted
from crm.domain.tasks.schemas import Task, TaskReminder

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def app():
    return create_celery_app(settings(celery_broker_url="redis://broker:6379/1", worker_queue="crm-worker-unit"))


def test_tasks_are_acknowledged_after_they_ran_one_at_a_time_in_json(app):
    conf = app.conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert (conf.task_serializer, conf.accept_content, conf.task_ignore_result) == ("json", ["json"], True)
    assert conf.task_default_queue == "crm-worker-unit"
    assert conf.broker_url == "redis://broker:6379/1"


def test_redis_hands_a_message_out_again_only_after_the_longest_run_and_retry_wait(app):
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert visibility == 600
    assert visibility > TASK_TIME_LIMIT + RETRY_BACKOFF_MAX
    assert app.conf.task_time_limit == TASK_TIME_LIMIT


@pytest.mark.parametrize("visibility", [4, 5, 7, 30, 361, 599, 86_400])
def test_a_shorter_visibility_timeout_shortens_the_run_and_the_retry_wait_to_fit_within_it(visibility):
    app = create_celery_app(settings(celery_broker_url="redis://broker:6379/1", worker_visibility_timeout=visibility))
    time_limit = app.conf.task_time_limit
    retry_backoff_max = {app.tasks[task_name(job)].retry_backoff_max for job in JOBS}
    assert app.conf.broker_transport_options["visibility_timeout"] == visibility
    assert len(retry_backoff_max) == 1 and 1 <= retry_backoff_max.pop() <= RETRY_BACKOFF_MAX
    assert 0 < time_limit <= TASK_TIME_LIMIT
    assert Redelivery.of(visibility).visibility_timeout > time_limit + Redelivery.of(visibility).retry_backoff_max


def test_a_visibility_timeout_that_leaves_no_room_for_a_run_is_refused():
    with pytest.raises(ValueError, match="visibility_timeout"):
        settings(worker_visibility_timeout=3)
    with pytest.raises(ValueError, match="leaves no room"):
        Redelivery(visibility_timeout=10, time_limit=9, retry_backoff_max=1)


def test_every_job_is_a_task_retried_with_bounded_jittered_backoff(app):
    for job in JOBS:
        task = app.tasks[task_name(job)]
        assert (task.max_retries, task.retry_jitter, task.retry_backoff_max) == (MAX_RETRIES, True, RETRY_BACKOFF_MAX)
        assert OSError in task.autoretry_for and TimeoutError in task.autoretry_for


def test_beat_sends_every_job_to_the_worker_queue_and_lets_a_missed_run_expire(app):
    schedule = app.conf.beat_schedule
    assert set(schedule) == set(JOBS)
    assert {entry["task"] for entry in schedule.values()} == {task_name(job) for job in JOBS}
    defaults = settings()
    for job, entry in schedule.items():
        every = JOBS[job].every_for(defaults)
        assert entry["schedule"] == every
        assert entry["options"] == {"queue": "crm-worker-unit", "expires": every.total_seconds()}
    assert JOBS["task-reminders"].every <= timedelta(minutes=1)


def test_notifications_are_delivered_as_often_as_the_poll_interval_says():
    app = create_celery_app(settings(celery_broker_url="redis://broker:6379/1", notifications_poll_interval=0.5))
    assert app.conf.beat_schedule["notification-deliveries"]["schedule"] == timedelta(seconds=0.5)
    assert JOBS["notification-deliveries"].every_for(settings()) == timedelta(seconds=2)


def test_the_broker_defaults_to_redis_and_is_required():
    app = create_celery_app(settings(redis_url="redis://cache:6379/0"))
    assert app.conf.broker_url == "redis://cache:6379/0"
    with pytest.raises(BrokerNotConfigured, match="CRM_CELERY_BROKER_URL or CRM_REDIS_URL"):
        create_celery_app(settings())


@pytest.fixture
def quiet_main(monkeypatch, tmp_path):
    """``main`` as run from an empty folder, leaving the test run's logging alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("crm.app.worker.configure_logging", lambda _settings: None)


def test_main_without_a_broker_exits_2(monkeypatch, quiet_main, capsys):
    for name in ("CRM_CELERY_BROKER_URL", "CRM_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["worker", "-l", "info"]) == 2
    assert "CRM_CELERY_BROKER_URL" in capsys.readouterr().err


def test_run_help_lists_every_job(quiet_main, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    listed = capsys.readouterr().out
    assert all(job in listed for job in [*JOBS, "all"])


# --- the jobs' rules ---------------------------------------------------------------------------------


def task(**fields: object) -> Task:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "title": "Call back",
        "description": None,
        "status": TaskStatus.PENDING,
        "priority": TaskPriority.NORMAL,
        "assignee_id": None,
        "author_id": None,
        "due_at": None,
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
    return Task.model_validate(values | fields)


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ({}, True),
        ({"status": TaskStatus.SCHEDULED}, True),
        ({"status": TaskStatus.IN_PROGRESS}, True),
        ({"status": TaskStatus.COMPLETED}, False),
        ({"status": TaskStatus.CANCELLED}, False),
        ({"is_deleted": True}, False),
    ],
)
def test_only_open_live_tasks_are_reminded(fields, wanted):
    assert reminder_is_wanted(task(**fields)) is wanted


def test_a_reminder_event_carries_what_a_notifier_needs():
    assignee, deal = uuid.uuid4(), uuid.uuid4()
    reminded = task(assignee_id=assignee, deal_id=deal, due_at=NOW + timedelta(hours=4))
    reminder = TaskReminder(
        id=uuid.uuid4(), task_id=reminded.id, remind_at=NOW, channel=ReminderChannel.TELEGRAM, created_at=NOW
    )
    event = reminder_event(reminder, reminded, NOW)
    assert (event.routing_key, event.aggregate_type, event.aggregate_id) == ("task.reminder", "task", reminded.id)
    assert event.data == {
        "task_id": str(reminded.id),
        "reminder_id": str(reminder.id),
        "remind_at": "2026-11-23T09:30:00Z",
        "channel": "telegram",
        "assignee_id": str(assignee),
        "title": "Call back",
        "due_at": "2026-11-23T13:30:00Z",
        "deal_id": str(deal),
    }


def test_an_overdue_payment_was_scheduled_before():
    payment = Payment.model_validate(
        {
            "id": uuid.uuid4(),
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
            "deal_id": uuid.uuid4(),
            "policy_id": uuid.uuid4(),
            "sequence": 1,
            "planned_date": date(2026, 11, 1),
            "planned_amount": Decimal("1000.00"),
            "currency": "RUB",
            "actual_date": None,
            "status": PaymentStatus.OVERDUE,
            "cancelled_at": None,
            "comment": None,
            "recorded_by_id": None,
            "incomes_total": Decimal("0.00"),
            "expenses_total": Decimal("0.00"),
            "net_total": Decimal("0.00"),
        }
    )
    assert status_before_overdue(payment) == PaymentStatus.SCHEDULED


def test_a_long_run_ends_before_the_beat_message_of_a_job_on_a_longer_timer_would_expire_behind_it():
    pollers = {"notification-deliveries", "automation-events"}  # sent every few seconds: a fresh message follows
    others = [job.every for job in JOBS.values() if job.name not in pollers]
    longest = max(DELIVERY_BUDGET_SECONDS, AUTOMATION_TIMERS_BUDGET_SECONDS)
    assert timedelta(seconds=longest) < min(others)


def test_an_automation_event_pass_ends_before_the_next_one_is_sent():
    assert timedelta(seconds=AUTOMATION_EVENTS_BUDGET_SECONDS) < JOBS["automation-events"].every
