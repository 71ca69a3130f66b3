"""HTTP routes of the tasks module."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.errors import FieldProblem, RuleViolation
from crm.domain.pagination import Page, PageRequest
from crm.domain.tasks.rules import TaskPriority, TaskStatus
from crm.domain.tasks.schemas import (
    MomentOrDay,
    Task,
    TaskCreate,
    TaskFilter,
    TaskReminder,
    TaskReminderCreate,
    TaskSchedule,
    TaskUpdate,
)

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]
T = TypeVar("T")


def _either(name: str, snake: T | None, camel: T | None) -> T | None:
    """The old API spelled some filters in camelCase; one spelling is enough, two must agree."""
    if snake is not None and camel is not None and snake != camel:
        raise RuleViolation(
            f"{name} was given twice with different values.",
            errors=[FieldProblem(name, "given as snake_case and camelCase with different values")],
        )
    return snake if snake is not None else camel


def _hidden(alias: str) -> Any:
    return Query(alias=alias, include_in_schema=False)


async def task_filter(
    page: Annotated[PageRequest, Depends(page_request)],
    assignee_id: Annotated[UUID | None, Query(description="Also accepted as `assigneeId`.")] = None,
    status_: Annotated[list[TaskStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    priority: Annotated[list[TaskPriority] | None, Query(description="Repeatable.")] = None,
    deal_id: Annotated[UUID | None, Query(description="Also accepted as `dealId`.")] = None,
    due_before: Annotated[
        MomentOrDay | None,
        Query(
            description="`due_at` before this instant (exclusive); a plain date means its midnight in the "
            "business time zone. Also `dueBefore`."
        ),
    ] = None,
    due_after: Annotated[
        MomentOrDay | None,
        Query(
            description="`due_at` at or after this instant (inclusive); a plain date means its midnight in the "
            "business time zone. Also `dueAfter`."
        ),
    ] = None,
    assignee_id_camel: Annotated[UUID | None, _hidden("assigneeId")] = None,
    deal_id_camel: Annotated[UUID | None, _hidden("dealId")] = None,
    due_before_camel: Annotated[MomentOrDay | None, _hidden("dueBefore")] = None,
    due_after_camel: Annotated[MomentOrDay | None, _hidden("dueAfter")] = None,
) -> TaskFilter:
    return TaskFilter(
        assignee_id=_either("assignee_id", assignee_id, assignee_id_camel),
        statuses=frozenset(status_) if status_ else None,
        priorities=frozenset(priority) if priority else None,
        deal_id=_either("deal_id", deal_id, deal_id_camel),
        due_before=_either("due_before", due_before, due_before_camel),
        due_after=_either("due_after", due_after, due_after_camel),
        page=page,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Task,
    responses=problem_responses(400, 404, 409, 422),
    summary="Create a task",
)
async def create_task(body: TaskCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """`author_id` is the caller. Input fields may also be spelled in camelCase, and `title` as `subject`."""
    return answer(await services.tasks.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Task], responses=problem_responses(400, 422), summary="List tasks")
async def list_tasks(
    caller: CurrentCaller, services: Services, query: Annotated[TaskFilter, Depends(task_filter)]
) -> Response:
    """Ordered by `due_at` (tasks without one last), then `created_at`, then `id`."""
    return page_response(await services.tasks.list(query, caller), services.cursors)


@router.get(
    "/{task_id}",
    response_model=Task,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a task",
)
async def get_task(
    task_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    task = await services.tasks.get(task_id, caller)
    return record_response(task, if_none_match=if_none_match)


@router.patch(
    "/{task_id}",
    response_model=Task,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Change some fields of a task, or its status",
)
async def update_task(
    task_id: UUID, body: TaskUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    task = await services.tasks.update(task_id, body, caller, if_match=if_match)
    return record_response(task)


@router.post(
    "/{task_id}/schedule",
    response_model=Task,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Schedule a task (or move its scheduled time)",
)
async def schedule_task(
    task_id: UUID,
    body: TaskSchedule,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
    answer: Answer,
) -> Response:
    task = await services.tasks.schedule(task_id, body.scheduled_for, caller, answer.idempotency, if_match=if_match)
    return answer(task)


@router.post(
    "/{task_id}/complete",
    response_model=Task,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Complete a task",
)
async def complete_task(
    task_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion, answer: Answer
) -> Response:
    return answer(await services.tasks.complete(task_id, caller, answer.idempotency, if_match=if_match))


@router.post(
    "/{task_id}/reminders",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskReminder,
    responses=problem_responses(400, 404, 409, 422),
    summary="Add a reminder to a task",
)
async def add_task_reminder(
    task_id: UUID, body: TaskReminderCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """Fires at `remind_at` on the channel; one reminder per (task, time, channel)."""
    return answer(await services.tasks.add_reminder(task_id, body, caller, answer.idempotency))
