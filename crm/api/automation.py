"""HTTP routes of automation rules and their runs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import NOT_MODIFIED, page_response, record_response
from crm.domain.automation.schemas import (
    AutomationRule,
    AutomationRun,
    RuleCreate,
    RuleFilter,
    RuleUpdate,
    RunFilter,
    RunStatus,
)
from crm.domain.pagination import Page, PageRequest

router = APIRouter(prefix="/api/v1/automation/rules", tags=["automation"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AutomationRule,
    responses=problem_responses(403, 409, 422),
    summary="Create an automation rule",
)
async def create_rule(body: RuleCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins and managers. A trigger (an event type with tests on its data, or a time: a deal in a stage for N
    hours, a payment overdue N days, a task overdue), conditions on the deal, one action. The stages and the
    pipeline it names must exist (422 naming the field). An event rule fires on the events recorded from now on."""
    return answer(await services.automation.create(body, caller, answer.idempotency))


@router.get(
    "", response_model=Page[AutomationRule], responses=problem_responses(400, 403, 422), summary="List automation rules"
)
async def list_rules(
    caller: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    enabled: Annotated[bool | None, Query(description="Only the enabled (`true`) or disabled (`false`) rules.")] = None,
) -> Response:
    """Admins and managers; by name."""
    return page_response(
        await services.automation.list(RuleFilter(enabled=enabled, page=page), caller), services.cursors
    )


@router.get(
    "/{rule_id}",
    response_model=AutomationRule,
    responses={**problem_responses(403, 404, 422), **NOT_MODIFIED},
    summary="Get an automation rule",
)
async def get_rule(
    rule_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.automation.get(rule_id, caller), if_none_match=if_none_match)


@router.patch(
    "/{rule_id}",
    response_model=AutomationRule,
    responses=problem_responses(403, 404, 412, 422),
    summary="Change, disable or enable an automation rule",
)
async def update_rule(
    rule_id: UUID, body: RuleUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """`enabled: false` disables the rule: it fires on nothing from the moment the change commits (its runs stay).
    Enabled again, an event rule fires on the events recorded from then on."""
    return record_response(await services.automation.update(rule_id, body, caller, if_match=if_match))


@router.get(
    "/{rule_id}/runs",
    response_model=Page[AutomationRun],
    responses=problem_responses(400, 403, 404, 422),
    summary="The rule's execution log, newest first",
)
async def list_runs(
    rule_id: UUID,
    caller: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    run_status: Annotated[
        RunStatus | None, Query(alias="status", description="Only the runs with this outcome.")
    ] = None,
) -> Response:
    """One run per occasion the rule fired on: `done`, `skipped` (nothing to change), `failed` (the action was
    refused; `error` says why) or `loop_stopped` (the occasion came from the rule's own firing)."""
    runs = await services.automation.runs(rule_id, RunFilter(status=run_status, page=page), caller)
    return page_response(runs, services.cursors)
