"""crm-worker's job metrics: each run and each failure counted per job, and served by a real prefork worker on
CRM_WORKER_METRICS_PORT with the figures of all its child processes added up."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from crm.app.config import Settings
from crm.app.job_metrics import JobMetrics
from crm.app.jobs import JOBS
from crm.app.worker import create_celery_app, task_name
from tests.apps import free_port
from tests.factories import make_client
from tests.messaging.test_worker_process import CRM_WORKER, forget_queue, stop, worker_env
from tests.metrics import samples, value

TIMEOUT = 30.0


def unreachable_broker() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/"


async def test_each_run_and_each_failure_is_counted_by_job(api, database_url):
    await make_client(api)  # an event waiting, which the sweep cannot publish: the broker is away
    registry = CollectorRegistry()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        celery_broker_url="redis://unused:6379/0",
        rabbitmq_url=unreachable_broker(),
    )
    app = create_celery_app(settings, metrics=JobMetrics(JOBS, registry))
    try:
        ran = await asyncio.to_thread(app.tasks[task_name("scheduled-tasks")].apply)
        failed = await asyncio.to_thread(app.tasks[task_name("relay-sweep")].apply)
    finally:
        app.close()

    assert ran.successful() and failed.failed()
    figures = samples(_exposition(registry))
    assert value(figures, "crm_worker_job_runs_total", job_name="scheduled-tasks") == 1
    assert value(figures, "crm_worker_job_failures_total", job_name="scheduled-tasks") == 0
    assert value(figures, "crm_worker_job_runs_total", job_name="relay-sweep") == 1
    assert value(figures, "crm_worker_job_failures_total", job_name="relay-sweep") == 1
    assert value(figures, "crm_worker_job_duration_seconds_count", job_name="relay-sweep") == 1
    # Every job's series is there from the start.
    assert value(figures, "crm_worker_job_runs_total", job_name="prune-outbox") == 0
    assert ("crm_worker_job_failures_total", frozenset({("job_name", "prune-outbox")})) in figures


async def test_a_prefork_worker_serves_the_runs_of_all_its_children(api, db, database_url, cache_url, run_id, tmp_path):
    await make_client(api)
    queue, port = f"crm-worker-metrics-{run_id}", free_port()
    env = worker_env(
        tmp_path,
        database_url=database_url,
        celery_broker_url=cache_url,
        worker_queue=queue,
        worker_metrics_port=str(port),
        worker_metrics_address="127.0.0.1",
        rabbitmq_url=unreachable_broker(),
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CRM_WORKER), "worker", "--pool", "prefork", "-c", "2", "-l", "info", "-Q", queue]
            + ["-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, celery_broker_url=cache_url, worker_queue=queue
    )
    celery_app = create_celery_app(settings)
    try:
        for name in ("scheduled-tasks", "scheduled-tasks", "scheduled-tasks", "relay-sweep"):
            await asyncio.to_thread(celery_app.send_task, task_name(name))
        figures: dict = {}
        deadline = time.monotonic() + TIMEOUT
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    figures = samples((await client.get("/metrics")).text)
                except httpx.TransportError:
                    figures = {}
                if (
                    value(figures, "crm_worker_job_runs_total", job_name="scheduled-tasks") >= 3
                    and value(figures, "crm_worker_job_failures_total", job_name="relay-sweep") >= 1
                ):
                    break
                await asyncio.sleep(0.2)
        pids = await asyncio.to_thread(_child_pids, process.pid)
    finally:
        stop(process)
        celery_app.close()
        await forget_queue(cache_url, queue)

    log = log_path.read_text()
    assert value(figures, "crm_worker_job_runs_total", job_name="scheduled-tasks") == 3, log
    assert value(figures, "crm_worker_job_failures_total", job_name="scheduled-tasks") == 0
    assert value(figures, "crm_worker_job_runs_total", job_name="relay-sweep") == 1
    assert value(figures, "crm_worker_job_failures_total", job_name="relay-sweep") == 1
    assert value(figures, "crm_worker_job_duration_seconds_count", job_name="scheduled-tasks") == 3
    assert len(pids) == 2, "a prefork pool of two child processes ran them"
    assert process.returncode == 0, log


def _exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def _child_pids(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return children.read().split()
