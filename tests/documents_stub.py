"""A real HTTP server standing in for the Documents service: ``GET {prefix}/documents/{id}``.

Known ids answer 200 with a small JSON document, unknown ones 404; ``fail_with`` makes every answer that
status, ``delay`` holds every answer back (to run into the client's timeout). ``stop()`` shuts it down,
so the port refuses connections afterwards.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from uuid import UUID

from tests.stub_server import StubServer


class DocumentsStub(StubServer):
    def __init__(self, prefix: str = "/api/v1") -> None:
        self.prefix = prefix.rstrip("/")
        self.known: set[UUID] = set()
        self.fail_with: int | None = None
        self.delay = 0.0
        self.requests: list[str] = []
        super().__init__(self._handler(), "documents-stub")

    @property
    def base_url(self) -> str:
        return f"{self.origin}{self.prefix}"

    def add(self, document_id: UUID | str) -> None:
        self.known.add(UUID(str(document_id)))

    def reset(self) -> None:
        self.known.clear()
        self.fail_with = None
        self.delay = 0.0
        self.requests.clear()

    def _answer(self, path: str) -> tuple[int, dict[str, object]]:
        self.requests.append(path)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            return self.fail_with, {"error": "stub told to fail"}
        head, _, raw_id = path.rpartition("/")
        if head != f"{self.prefix}/documents":
            return 404, {"error": "no such route"}
        try:
            document_id = UUID(raw_id)
        except ValueError:
            return 404, {"error": "not a document id"}
        if document_id not in self.known:
            return 404, {"error": "document not found"}
        return 200, {"id": str(document_id), "name": "policy-scan.pdf"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = stub._answer(self.path)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler
