"""A real HTTP server standing in for Telegram's Bot API: ``POST /bot<token>/sendMessage``.

``script`` lists the answers to give, in order, as ``(status, body)``; once it runs out every message is answered
200 ``{"ok": true}``. Every request is kept (``messages``: the JSON bodies; ``paths``: the request paths), so
tests see exactly what was sent and how often.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.stub_server import StubServer

OK: tuple[int, dict[str, Any]] = (200, {"ok": True, "result": {"message_id": 1}})


def server_error() -> tuple[int, dict[str, Any]]:
    return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}


def too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


class TelegramStub(StubServer):
    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.always: tuple[int, dict[str, Any]] | None = None
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        super().__init__(self._handler(), "telegram-stub")

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.paths.append(path)
            self.messages.append(body)
            if self.always is not None:
                return self.always
            return self.script.pop(0) if self.script else OK

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                status, answer = stub._answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
