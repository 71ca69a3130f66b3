"""The HTTP conventions every route shares, installed on the application in one call.

The middleware, from the socket inwards (each sees the answers of those inside it):

1. ``SecurityHeaders``: nosniff, no framing, no referrer on every answer; ``no-store`` on the API's;
2. ``CORSMiddleware`` (only with ``cors_origins``): answers preflights, marks what a browser may read;
3. ``HeadAsGet``: HEAD served as GET without the body;
4. ``RequestMetrics`` (only with ``metrics``): each request counted and timed by route template and status (a HEAD
   as the GET it is served as; a CORS preflight, answered outside, is not counted);
5. ``CorrelationIdMiddleware``: ``X-Request-ID`` on every answer and log line;
6. ``TraceContext``: the caller's W3C ``traceparent`` for the request's events and log lines;
7. ``Authentication`` (``crm.api.auth``): the access token of every API and stream request, or a 401;
8. ``RateLimitHeaders`` (only with a rate limit): the RateLimit-* headers of a counted request;
9. ``BodyLimit``: a body over ``max_body_bytes`` is a 413 and never reaches a route;
10. ``UnexpectedErrors``: what a route let escape becomes a problem (see ``crm.api.errors``).

The rate limit itself is a dependency (``crm.api.rate_limits.rate_limit``) the composition root attaches to the
API's routers, because it counts the caller that authentication resolves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from crm.api.auth import Authentication
from crm.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from crm.api.errors import Translate, install_error_handlers
from crm.api.methods import install_head_support
from crm.api.metrics import HttpMetrics, RequestMetrics
from crm.api.openapi import install_openapi
from crm.api.rate_limits import RateLimitHeaders
from crm.api.security_headers import SecurityHeaders
from crm.api.tracing import TraceContext
from crm.domain.rate_limits import Quota

CORS_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-ID",
)
CORS_EXPOSED_HEADERS = (
    "ETag",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
)


def install_http_conventions(
    app: FastAPI,
    *,
    translate: Translate,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: Mapping[str, int] | None = None,
    rate_limit: Quota | None = None,
    metrics: HttpMetrics | None = None,
) -> None:
    """Problem answers for every error (``translate`` names the domain error an infrastructure error stands
    for), HEAD wherever GET is, a 405 that lists every method, the body limit, the rate limit's headers (when
    there is a ``rate_limit``), CORS for ``cors_origins``, the security headers, and an OpenAPI document that
    says all that. ``body_limits`` gives paths a body limit of their own (an upload)."""
    install_error_handlers(app, translate=translate)
    # add_middleware puts each one outside those added before it: innermost first.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, per_path=body_limits or {})
    if rate_limit is not None:
        app.add_middleware(RateLimitHeaders)
    # Outside the body limit (a request without a valid token is a 401 before its body is looked at), inside
    # the request id, CORS and the security headers (a 401 carries them as every answer does).
    app.add_middleware(Authentication)
    app.add_middleware(TraceContext)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    if metrics is not None:
        # Outside all that answers a request (401, 413, 429, 500), inside HEAD (which reaches it as the GET).
        app.add_middleware(RequestMetrics, metrics=metrics)
    install_head_support(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            # A token may come in the crm_access_token cookie; a browser sends it only to origins named here.
            allow_credentials="*" not in cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)
    install_openapi(app, max_body_bytes=max_body_bytes, body_limits=body_limits or {}, rate_limit=rate_limit)
