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


LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL; each run declares its own exchange and queues on it (see ``run_id``)."""
    configured = os.environ.get("CRM_TEST_RABBITMQ_URL")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-alpine") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/"
        return
    yield LOCAL_RABBITMQ


@contextmanager
def redis_url() -> Iterator[str]:
    """A Redis URL; each run names its own channels, queues and keys (see ``run_id``)."""
    configured = os.environ.get("CRM_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    yield LOCAL_REDIS
