"""Which real services the tests use: ``CRM_TEST_*`` URLs, else Testcontainers, else local defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def postgres_admin_url() -> Iterator[str]:
    """A URL with the right to create databases; each run makes its own database with it."""
    configured = os.environ.get("CRM_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            yield container.get_connection_url()
        return
    yield LOCAL_POSTGRES
