"""The application's API routes. FastAPI (0.165) keeps included routers whole in ``app.routes``; its
``iter_route_contexts`` walks them, with each route's full path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.routing import APIRoute, RouteContext, iter_route_contexts


def api_routes(routes: Sequence[Any]) -> list[RouteContext]:
    """Every API route (``.path`` is its full path, ``.original_route`` the ``APIRoute``); at least 50."""
    found = [route for route in iter_route_contexts(routes) if isinstance(route.original_route, APIRoute)]
    assert len(found) > 50
    return found
