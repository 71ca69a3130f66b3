"""Properties every route must keep, checked on the assembled application (no database needed)."""

import inspect

from fastapi.routing import APIRoute, iter_route_contexts

from crm.app.config import Settings
from crm.app.main import create_app


def _api_routes(app):
    """Every API route with its full path: FastAPI keeps included routers whole in ``app.routes``."""
    routes = [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]
    assert len(routes) > 50
    return routes


def _dependencies(dependant):
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_no_dependency_runs_in_the_threadpool():
    # FastAPI runs plain-def dependencies in a worker thread: measured at 9-28 % of GET throughput.
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/unused"))
    sync = sorted(
        {
            f"{route.path}: {dependency.call.__name__}"
            for route in _api_routes(app)
            for dependency in _dependencies(route.original_route.dependant)
            if dependency.call is not None and not inspect.iscoroutinefunction(dependency.call)
        }
    )
    assert sync == []


def test_every_api_route_documents_its_problems():
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/unused"))
    for route in _api_routes(app):
        if route.path.startswith("/api/v1"):
            assert any(status >= 400 for status in map(int, route.responses)), route.path
