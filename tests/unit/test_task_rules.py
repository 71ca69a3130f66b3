"""Task lifecycle rules and the task input schemas, without I/O."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from crm.domain.tasks.rules import FINAL_STATUSES, TaskStatus, initial_status, transition_refusal
from crm.domain.tasks.schemas import JSON_MAX_BYTES, JSON_MAX_DEPTH, TaskCreate, TaskReminderCreate, TaskUpdate
from tests.values import ASSIGNEE

S = TaskStatus
ALLOWED = {
    (S.PENDING, S.IN_PROGRESS),
    (S.PENDING, S.SCHEDULED),
    (S.PENDING, S.COMPLETED),
    (S.PENDING, S.CANCELLED),
    (S.SCHEDULED, S.PENDING),
    (S.SCHEDULED, S.IN_PROGRESS),
    (S.SCHEDULED, S.CANCELLED),
    (S.IN_PROGRESS, S.PENDING),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.CANCELLED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.permutations(TaskStatus, 2)))
def test_only_the_old_services_moves_are_allowed(current, target):
    assert (transition_refusal(current, target) is None) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("status", list(TaskStatus))
def test_staying_in_a_status_is_no_move(status):
    assert transition_refusal(status, status) is None


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_completed_and_cancelled_are_final(final):
    refusals = [transition_refusal(final, target) for target in TaskStatus if target != final]
    assert all(r is not None and "final" in r for r in refusals)


def test_a_refusal_names_the_moves_that_are_allowed():
    assert transition_refusal(S.SCHEDULED, S.COMPLETED) == (
        "a scheduled task can become cancelled, in_progress, pending, not completed"
    )


def test_a_new_task_is_pending_unless_it_has_a_schedule():
    assert initial_status(False) is S.PENDING
    assert initial_status(True) is S.SCHEDULED


def test_camel_case_and_subject_are_accepted_on_input():
    task = TaskCreate.model_validate(
        {
            "subject": "Call back",
            "assigneeId": ASSIGNEE,
            "dueAt": "2026-12-01T09:00:00+03:00",
            "scheduledFor": "2026-11-30T09:00:00Z",
            "dealId": ASSIGNEE,
            "clientId": ASSIGNEE,
            "policyId": ASSIGNEE,
            "paymentId": ASSIGNEE,
        }
    )
    assert task.title == "Call back"
    assert str(task.assignee_id) == ASSIGNEE
    assert task.due_at is not None and task.due_at.utcoffset() is not None
    assert all(str(getattr(task, f)) == ASSIGNEE for f in ("deal_id", "client_id", "policy_id", "payment_id"))
    assert TaskUpdate.model_validate({"cancelledReason": " client declined "}).model_dump(exclude_unset=True) == {
        "cancelled_reason": "client declined"
    }
    assert TaskReminderCreate.model_validate({"remindAt": "2026-12-01T08:00:00Z", "channel": "sse"}).channel == "sse"


def test_one_field_in_both_spellings_is_refused():
    with pytest.raises(ValidationError) as error:
        TaskCreate.model_validate({"title": "A", "subject": "B"})
    assert error.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    "fields",
    [
        {"due_at": 1_767_225_600},  # a Unix timestamp is not an ISO 8601 time
        {"due_at": "2026-12-01T09:00:00"},  # no offset
        {"due_at": "tomorrow"},
        {"priority": "urgent"},
        {"title": "x" * 256},
        {"title": "bad\x00title"},
        {"title": 2**40},
        {"author_id": ASSIGNEE},  # the author is the caller
        {"status": "completed"},
        {"completed_at": "2026-12-01T09:00:00Z"},
        {"context": []},
        {"context": {"a": float("nan")}},
        {"context": {"a": float("inf")}},
        {"context": {"nul\x00key": 1}},
        {"payload": {"a": ["nul\x00value"]}},
    ],
)
def test_bad_task_input_is_refused(fields):
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": "T", **fields})


def test_json_objects_may_hold_big_integers_and_nesting_up_to_the_limit():
    nested: dict = {"n": 2**80}
    for _ in range(JSON_MAX_DEPTH - 1):
        nested = {"x": nested}
    assert TaskCreate.model_validate({"title": "T", "context": nested}).context == nested
    with pytest.raises(ValidationError, match="nested"):
        TaskCreate.model_validate({"title": "T", "context": {"x": nested}})


def test_json_objects_are_limited_in_size():
    with pytest.raises(ValidationError, match="bytes"):
        TaskCreate.model_validate({"title": "T", "payload": {"blob": "x" * JSON_MAX_BYTES}})
