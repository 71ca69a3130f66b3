"""The Documents service's REST API, as the policies module's catalog of documents."""

from __future__ import annotations

from uuid import UUID

import httpx
import structlog

from crm.domain.errors import DocumentsUnavailable

log = structlog.get_logger(__name__)

# Answers that say the document is not there; anything else but 2xx means Documents could not tell.
_ABSENT = frozenset({404, 410})


def documents_http_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    """One client per process, made in the lifespan: it pools connections to Documents."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout),
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )


class HttpDocumentCatalog:
    """``GET {base}/documents/{id}``: 2xx → exists, 404/410 → absent, anything else → unavailable."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def exists(self, document_id: UUID) -> bool:
        try:
            response = await self._client.get(f"documents/{document_id}")
        except httpx.HTTPError as exc:
            log.warning("documents service unreachable", document_id=str(document_id), error=repr(exc))
            raise self._unavailable() from exc
        if response.is_success:
            return True
        if response.status_code in _ABSENT:
            return False
        log.warning("documents service refused", document_id=str(document_id), status=response.status_code)
        raise self._unavailable()

    @staticmethod
    def _unavailable() -> DocumentsUnavailable:
        return DocumentsUnavailable("The Documents service did not answer; try again later.")
