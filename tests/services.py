"""Which real services the tests use: ``CRM_TEST_*`` URLs, else Testcontainers, else local defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


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
def _service_url(variable: str, container_url: Callable[[], AbstractContextManager[str]], local: str) -> Iterator[str]:
    """The ``CRM_TEST_*`` variable, else a Testcontainers server when a Docker engine answers, else ``local``."""
    configured = os.environ.get(variable)
    if configured:
        yield configured
    elif _docker_engine_answers():
        with container_url() as url:
            yield url
    else:
        yield local


@contextmanager
def _postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver=None) as container:
        yield container.get_connection_url()


@contextmanager
def _rabbitmq_container() -> Iterator[str]:
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-alpine") as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/"


@contextmanager
def _redis_container() -> Iterator[str]:
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7-alpine") as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


def postgres_admin_url() -> AbstractContextManager[str]:
    """A URL with the right to create databases; each run makes its own database with it."""
    return _service_url("CRM_TEST_DATABASE_URL", _postgres_container, LOCAL_POSTGRES)


def rabbitmq_url() -> AbstractContextManager[str]:
    """An AMQP URL; each run declares its own exchange and queues on it (see ``run_id``)."""
    return _service_url("CRM_TEST_RABBITMQ_URL", _rabbitmq_container, LOCAL_RABBITMQ)


def redis_url() -> AbstractContextManager[str]:
    """A Redis URL; each run names its own channels, queues and keys (see ``run_id``)."""
    return _service_url("CRM_TEST_REDIS_URL", _redis_container, LOCAL_REDIS)
