"""HTTP routes of the payments module: payments of a policy, their incomes, expenses and history."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.errors import FieldProblem, RuleViolation
from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.schemas import (
    ExpenseCreate,
    ExpenseUpdate,
    HistoryEntry,
    IncomeCreate,
    IncomeUpdate,
    LineKind,
    Payment,
    PaymentCreate,
    PaymentFilter,
    PaymentLine,
    PaymentUpdate,
)
from crm.domain.types import WHITESPACE

PREFIX = "/api/v1/deals/{deal_id}/policies/{policy_id}/payments"
router = APIRouter(prefix=PREFIX, tags=["payments"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]
Paging = Annotated[PageRequest, Depends(page_request)]
EMBEDDABLE = ("incomes", "expenses")
# What _includes accepts: comma-separated, each part trimmed (str.strip's whitespace), empty parts ignored.
_PART = rf"[{WHITESPACE}]*(incomes|expenses)?[{WHITESPACE}]*"
INCLUDE_PATTERN = rf"^{_PART}(,{_PART})*$"


def _includes(include: str | None) -> set[str]:
    wanted = {part.strip() for part in (include or "").split(",") if part.strip()}
    unknown = wanted - set(EMBEDDABLE)
    if unknown:
        raise RuleViolation(
            f"Cannot include {sorted(unknown)}.",
            errors=[FieldProblem("include", f"comma-separated subset of {', '.join(EMBEDDABLE)}")],
        )
    return wanted


@router.get("", response_model=Page[Payment], responses=problem_responses(400, 404, 422), summary="List payments")
async def list_payments(
    deal_id: UUID,
    policy_id: UUID,
    caller: CurrentCaller,
    services: Services,
    page: Paging,
    include: Annotated[
        str | None,
        Query(max_length=100, pattern=INCLUDE_PATTERN, description="`incomes`, `expenses` or both, comma-separated."),
    ] = None,
) -> Response:
    """In `sequence` order; live payments only."""
    wanted = _includes(include)
    query = PaymentFilter(
        deal_id=deal_id,
        policy_id=policy_id,
        include_incomes="incomes" in wanted,
        include_expenses="expenses" in wanted,
        page=page,
    )
    return page_response(await services.payments.list(query, caller), services.cursors)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Payment,
    responses=problem_responses(400, 404, 409, 422),
    summary="Schedule a payment of a policy",
)
async def create_payment(
    deal_id: UUID, policy_id: UUID, body: PaymentCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """`sequence` is the policy's next; `currency` defaults to the policy's."""
    return answer(await services.payments.create(deal_id, policy_id, body, caller, answer.idempotency))


@router.get(
    "/{payment_id}",
    response_model=Payment,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a payment",
)
async def get_payment(
    deal_id: UUID,
    policy_id: UUID,
    payment_id: UUID,
    caller: CurrentCaller,
    services: Services,
    if_none_match: IfNoneMatch = None,
) -> Response:
    payment = await services.payments.get(deal_id, policy_id, payment_id, caller)
    return record_response(payment, if_none_match=if_none_match)


@router.patch(
    "/{payment_id}",
    response_model=Payment,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Change some fields of a payment",
)
async def update_payment(
    deal_id: UUID,
    policy_id: UUID,
    payment_id: UUID,
    body: PaymentUpdate,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    """A currency change is refused while the payment has incomes or expenses (409 `payment_has_transactions`)."""
    payment = await services.payments.update(deal_id, policy_id, payment_id, body, caller, if_match=if_match)
    return record_response(payment)


@router.delete(
    "/{payment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412, 422),
    summary="Soft-delete a payment without incomes or expenses",
)
async def delete_payment(
    deal_id: UUID,
    policy_id: UUID,
    payment_id: UUID,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    await services.payments.delete(deal_id, policy_id, payment_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{payment_id}/restore",
    response_model=Payment,
    responses=problem_responses(404, 422),
    summary="Restore a soft-deleted payment",
)
async def restore_payment(
    deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    return answer(await services.payments.restore(deal_id, policy_id, payment_id, caller, answer.idempotency))


@router.post(
    "/{payment_id}/cancel",
    response_model=Payment,
    responses=problem_responses(404, 422),
    summary="Cancel a payment (its status becomes `cancelled`)",
)
async def cancel_payment(
    deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    return answer(await services.payments.cancel(deal_id, policy_id, payment_id, caller, answer.idempotency))


@router.post(
    "/{payment_id}/reopen",
    response_model=Payment,
    responses=problem_responses(403, 404, 422),
    summary="Reopen a cancelled payment (admins only)",
)
async def reopen_payment(
    deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    return answer(await services.payments.reopen(deal_id, policy_id, payment_id, caller, answer.idempotency))


@router.get(
    "/{payment_id}/history",
    response_model=Page[HistoryEntry],
    responses=problem_responses(400, 404, 422),
    summary="Changes of a payment and its lines, newest first",
)
async def payment_history(
    deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: CurrentCaller, services: Services, page: Paging
) -> Response:
    return page_response(
        await services.payment_lines.history(deal_id, policy_id, payment_id, page, caller), services.cursors
    )


def _line_routes(kind: LineKind, create_model: type[IncomeCreate], update_model: type[IncomeUpdate]) -> None:
    """The same five routes for incomes and for expenses."""
    path = f"/{{payment_id}}/{kind}s"

    async def list_lines(
        deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: CurrentCaller, services: Services, page: Paging
    ) -> Response:
        return page_response(
            await services.payment_lines.list(kind, deal_id, policy_id, payment_id, page, caller), services.cursors
        )

    async def create_line(
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        body: create_model,  # type: ignore[valid-type]
        caller: CurrentCaller,
        services: Services,
        answer: Answer,
    ) -> Response:
        line = await services.payment_lines.create(
            kind, deal_id, policy_id, payment_id, body, caller, answer.idempotency
        )
        return answer(line)

    async def get_line(
        deal_id: UUID, policy_id: UUID, payment_id: UUID, line_id: UUID, caller: CurrentCaller, services: Services
    ) -> Response:
        return record_response(await services.payment_lines.get(kind, deal_id, policy_id, payment_id, line_id, caller))

    async def update_line(
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        body: update_model,  # type: ignore[valid-type]
        caller: CurrentCaller,
        services: Services,
        if_match: ExpectedVersion,
    ) -> Response:
        line = await services.payment_lines.update(
            kind, deal_id, policy_id, payment_id, line_id, body, caller, if_match=if_match
        )
        return record_response(line)

    async def delete_line(
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        caller: CurrentCaller,
        services: Services,
        if_match: ExpectedVersion,
    ) -> Response:
        await services.payment_lines.delete(kind, deal_id, policy_id, payment_id, line_id, caller, if_match=if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    async def restore_line(
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        caller: CurrentCaller,
        services: Services,
        answer: Answer,
    ) -> Response:
        line = await services.payment_lines.restore(
            kind, deal_id, policy_id, payment_id, line_id, caller, answer.idempotency
        )
        return answer(line)

    router.add_api_route(
        path,
        list_lines,
        methods=["GET"],
        response_model=Page[PaymentLine],
        responses=problem_responses(400, 404, 422),
        summary=f"List the {kind}s of a payment, oldest posting first",
        name=f"list_payment_{kind}s",
    )
    router.add_api_route(
        path,
        create_line,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=PaymentLine,
        responses=problem_responses(400, 404, 422),
        summary=f"Post an {kind} to a payment; a negative amount is a correction and needs a note",
        name=f"create_payment_{kind}",
    )
    router.add_api_route(
        f"{path}/{{line_id}}",
        get_line,
        methods=["GET"],
        response_model=PaymentLine,
        responses=problem_responses(404, 422),
        summary=f"Get an {kind} of a payment",
        name=f"get_payment_{kind}",
    )
    router.add_api_route(
        f"{path}/{{line_id}}",
        update_line,
        methods=["PATCH"],
        response_model=PaymentLine,
        responses=problem_responses(400, 404, 412, 422),
        summary=f"Change some fields of an {kind}",
        name=f"update_payment_{kind}",
    )
    router.add_api_route(
        f"{path}/{{line_id}}",
        delete_line,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        responses=problem_responses(404, 412, 422),
        summary=f"Delete an {kind} of a payment",
        name=f"delete_payment_{kind}",
    )
    router.add_api_route(
        f"{path}/{{line_id}}/restore",
        restore_line,
        methods=["POST"],
        response_model=PaymentLine,
        responses=problem_responses(400, 404, 409, 422),
        summary=f"Restore a deleted {kind}: it counts in the payment's totals again",
        name=f"restore_payment_{kind}",
    )


_line_routes("income", IncomeCreate, IncomeUpdate)
_line_routes("expense", ExpenseCreate, ExpenseUpdate)
