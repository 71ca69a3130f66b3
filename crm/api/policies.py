"""HTTP routes of the policies module: policies and the documents linked to them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.pagination import Page, PageRequest
from crm.domain.policies.documents import DocumentLinkCreate, PolicyDocument
from crm.domain.policies.schemas import Policy, PolicyCreate, PolicyFilter, PolicyStatus, PolicyUpdate
from crm.domain.types import Day, SearchTerm

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Policy,
    responses=problem_responses(400, 404, 409, 422),
    summary="Issue a policy in a deal",
)
async def create_policy(body: PolicyCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """The deal and the client must be live, and the client must be the deal's (422 `policy_client_mismatch`).
    A draft may go without its premium and cover dates; any other status needs all three (422
    `policy_terms_required`)."""
    return answer(await services.policies.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Policy], responses=problem_responses(400, 422), summary="List policies")
async def list_policies(
    caller: CurrentCaller,
    services: Services,
    page: Paging,
    deal_id: UUID | None = None,
    client_id: UUID | None = None,
    status_: Annotated[list[PolicyStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    expiring_before: Annotated[
        Day | None, Query(description="Only policies whose `effective_to` is earlier than this day.")
    ] = None,
    search: Annotated[SearchTerm | None, Query(description="Part of the policy number.")] = None,
) -> Response:
    """Newest first; live policies only."""
    query = PolicyFilter(
        deal_id=deal_id,
        client_id=client_id,
        statuses=frozenset(status_) if status_ else None,
        expiring_before=expiring_before,
        search=search,
        page=page,
    )
    return page_response(await services.policies.list(query, caller), services.cursors)


@router.get(
    "/{policy_id}",
    response_model=Policy,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a policy",
)
async def get_policy(
    policy_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    policy = await services.policies.get(policy_id, caller)
    return record_response(policy, if_none_match=if_none_match)


@router.patch(
    "/{policy_id}",
    response_model=Policy,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Change some fields of a policy",
)
async def update_policy(
    policy_id: UUID,
    body: PolicyUpdate,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    policy = await services.policies.update(policy_id, body, caller, if_match=if_match)
    return record_response(policy)


@router.delete(
    "/{policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412, 422),
    summary="Soft-delete a policy (refused while it has live payments)",
)
async def delete_policy(
    policy_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.policies.delete(policy_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{policy_id}/restore",
    response_model=Policy,
    responses=problem_responses(404, 409, 422),
    summary="Restore a soft-deleted policy (its deal and client must be live)",
)
async def restore_policy(policy_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.policies.restore(policy_id, caller, answer.idempotency))


@router.get(
    "/{policy_id}/documents",
    response_model=Page[PolicyDocument],
    responses=problem_responses(400, 404, 422),
    summary="List the documents linked to a policy",
)
async def list_policy_documents(policy_id: UUID, caller: CurrentCaller, services: Services, page: Paging) -> Response:
    """Oldest link first."""
    return page_response(await services.policy_documents.list(policy_id, page, caller), services.cursors)


@router.post(
    "/{policy_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyDocument,
    responses=problem_responses(400, 404, 409, 422, 503),
    summary="Link a document of the Documents service to a policy",
)
async def link_policy_document(
    policy_id: UUID, body: DocumentLinkCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """With `CRM_DOCUMENTS_BASE_URL` set the document must exist there (404 `document_not_found`; 503
    `documents_unavailable` when Documents does not answer); unset, any document id is accepted unchecked."""
    return answer(await services.policy_documents.link(policy_id, body.document_id, caller, answer.idempotency))


@router.delete(
    "/{policy_id}/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Unlink a document from a policy",
)
async def unlink_policy_document(
    policy_id: UUID, document_id: UUID, caller: CurrentCaller, services: Services
) -> Response:
    await services.policy_documents.unlink(policy_id, document_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
