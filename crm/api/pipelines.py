"""HTTP routes of pipelines and their stages."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response, status
from starlette.convertors import Convertor, register_url_convertor

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import NOT_MODIFIED, json_response, page_response, record_response
from crm.domain.pagination import Page, PageRequest
from crm.domain.pipelines.schemas import (
    Pipeline,
    PipelineCreate,
    PipelineFilter,
    PipelineUpdate,
    Stage,
    StageCreate,
    StageOrder,
    StageUpdate,
)
from crm.domain.types import SearchTerm

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


class StageIdSegment(Convertor[str]):
    """``/stages/{stage_id}`` without ``/stages/order``: that path is a resource of its own (PUT only), so a PATCH
    of it is a 405 naming PUT, not a stage id that fails validation."""

    regex = "(?!order$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("stage_id", StageIdSegment())


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Pipeline,
    responses=problem_responses(403, 409, 422),
    summary="Create a pipeline with its stages",
)
async def create_pipeline(body: PipelineCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins and managers. The stages in order: keys unique, at least one `open`, one `won` and one `lost` stage
    (422 naming the stage otherwise); a contract stage key (`closedWon`, …) keeps its kind. A name a live pipeline
    has is 409 `pipeline_name_conflict`."""
    return answer(await services.pipelines.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Pipeline], responses=problem_responses(400, 422), summary="List pipelines")
async def list_pipelines(
    _: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    search: Annotated[SearchTerm | None, Query(description="Part of the name.")] = None,
) -> Response:
    """Live pipelines by name, each with its stages in order; anyone signed in may read them."""
    return page_response(await services.pipelines.list(PipelineFilter(search=search, page=page)), services.cursors)


@router.get(
    "/{pipeline_id}",
    response_model=Pipeline,
    responses={**problem_responses(404, 422), **NOT_MODIFIED},
    summary="Get a pipeline",
)
async def get_pipeline(
    pipeline_id: UUID, _: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.pipelines.get(pipeline_id), if_none_match=if_none_match)


@router.patch(
    "/{pipeline_id}",
    response_model=Pipeline,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Change a pipeline",
)
async def update_pipeline(
    pipeline_id: UUID, body: PipelineUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """`lost_reasons` replaces the whole list (lost deals keep the reason they have). `is_default: true` makes this
    the default pipeline in the same transaction as the previous one stops being it."""
    return record_response(await services.pipelines.update(pipeline_id, body, caller, if_match=if_match))


@router.delete(
    "/{pipeline_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Soft-delete a pipeline",
)
async def delete_pipeline(
    pipeline_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """409 `pipeline_is_default` for the default pipeline, `pipeline_has_deals` while live deals are in it."""
    await services.pipelines.delete(pipeline_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{pipeline_id}/restore",
    response_model=Pipeline,
    responses=problem_responses(403, 404, 409, 422),
    summary="Restore a soft-deleted pipeline",
)
async def restore_pipeline(pipeline_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.pipelines.restore(pipeline_id, caller, answer.idempotency))


@router.post(
    "/{pipeline_id}/stages",
    status_code=status.HTTP_201_CREATED,
    response_model=Stage,
    responses=problem_responses(403, 404, 409, 422),
    summary="Add a stage at the end of a pipeline",
    tags=["pipeline stages"],
)
async def add_stage(
    pipeline_id: UUID, body: StageCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """A key a live stage of the pipeline has is 409 `stage_key_conflict`. Place it with
    `PUT /pipelines/{id}/stages/order`."""
    return answer(await services.pipelines.add_stage(pipeline_id, body, caller, answer.idempotency))


@router.patch(
    "/{pipeline_id}/stages/{stage_id:stage_id}",
    response_model=Stage,
    responses=problem_responses(403, 404, 409, 422),
    summary="Change a stage's name, probability or SLA",
    tags=["pipeline stages"],
)
async def update_stage(
    pipeline_id: UUID, stage_id: UUID, body: StageUpdate, caller: CurrentCaller, services: Services
) -> Response:
    return json_response(await services.pipelines.update_stage(pipeline_id, stage_id, body, caller))


@router.delete(
    "/{pipeline_id}/stages/{stage_id:stage_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409, 422),
    summary="Remove a stage",
    tags=["pipeline stages"],
)
async def remove_stage(pipeline_id: UUID, stage_id: UUID, caller: CurrentCaller, services: Services) -> Response:
    """409 `stage_has_deals` while live deals stand in it, `last_stage_of_kind` for the pipeline's last open, won or
    lost stage. The stage is kept for the history that names it, and may be restored."""
    await services.pipelines.remove_stage(pipeline_id, stage_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{pipeline_id}/stages/{stage_id:stage_id}/restore",
    response_model=Stage,
    responses=problem_responses(403, 404, 409, 422),
    summary="Put a removed stage back at the end of its pipeline",
    tags=["pipeline stages"],
)
async def restore_stage(
    pipeline_id: UUID, stage_id: UUID, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """A live stage stays as it is; another live stage with its key is 409 `stage_key_conflict`."""
    return answer(await services.pipelines.restore_stage(pipeline_id, stage_id, caller, answer.idempotency))


@router.put(
    "/{pipeline_id}/stages/order",
    response_model=Pipeline,
    responses=problem_responses(403, 404, 422),
    summary="Reorder a pipeline's stages",
    tags=["pipeline stages"],
)
async def reorder_stages(
    pipeline_id: UUID,
    body: Annotated[StageOrder, Body(examples=[["0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f102"]])],
    caller: CurrentCaller,
    services: Services,
) -> Response:
    """The ids of every live stage of the pipeline, each once, in the new order (422 naming the item otherwise)."""
    return record_response(await services.pipelines.reorder(pipeline_id, body, caller))
