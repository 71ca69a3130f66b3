"""Query and header parameters shared by the list and write routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from crm.api.deps import Services
from crm.api.etags import parse_if_match
from crm.domain.pagination import DEFAULT_LIMIT, PageRequest


async def page_request(
    services: Services,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=1000, description="`next_cursor` of the previous page, as given (400 `invalid_cursor` if not)."
        ),
    ] = None,
    with_total: Annotated[bool, Query(description="Also count all matching records.")] = False,
) -> PageRequest:
    # The signature is checked here, before the repository decodes anything of the cursor.
    unsigned = None if cursor is None else services.cursors.verify(cursor)
    return PageRequest(limit=limit, cursor=unsigned, with_total=with_total)


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='ETag of the version being changed, e.g. `"3"`; 412 if it is stale.'),
    ] = None,
) -> int | None:
    return parse_if_match(if_match)


IfNoneMatch = Annotated[str | None, Header(description="ETag of the caller's copy; 304 Not Modified if it is current.")]
