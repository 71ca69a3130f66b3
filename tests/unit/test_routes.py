"""Properties every route must keep, checked on the assembled application (no database needed)."""

import inspect

from crm.app.config import Settings
from crm.app.main import create_app
from tests.routes import api_routes


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
            for route in api_routes(app.routes)
            for dependency in _dependencies(route.original_route.dependant)
            if dependency.call is not None and not inspect.iscoroutinefunction(dependency.call)
        }
    )
    assert sync == []


def test_every_api_route_documents_its_problems():
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/unused"))
    for route in api_routes(app.routes):
        if route.path.startswith("/api/v1"):
            assert any(status >= 400 for status in map(int, route.original_route.responses)), route.path
