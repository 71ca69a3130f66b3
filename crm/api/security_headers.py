"""Headers every answer carries so that a browser treats the API as data, never as a page.

* ``X-Content-Type-Options: nosniff``: JSON is never sniffed into HTML or script;
* ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``: nothing of the service is framed, and no URL of
  it (ids in paths) leaks to another site through a link of the Swagger page;
* ``Cache-Control: no-store`` on the API's answers (and on every problem): they are one caller's data, so no
  shared cache or browser disk may keep them. An answer that says otherwise keeps its own (the SSE stream's
  ``no-cache``). Conditional requests still work: a client that kept a record sends ``If-None-Match`` with its
  ``ETag`` and gets a 304, which carries the same headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")
PROBLEM = b"application/problem+json"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, private_prefixes: tuple[str, ...] = ("/api/", "/streams")) -> None:
        self.app = app
        self.private_prefixes = private_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(self.private_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower(): value for name, value in headers}
                headers += [header for header in ALWAYS if header[0] not in names]
                if b"cache-control" not in names and (private or names.get(b"content-type", b"").startswith(PROBLEM)):
                    headers.append(NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
