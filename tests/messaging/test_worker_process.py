"""crm-worker as a real process: a Celery worker on Redis running a job it is sent, and ``run <job>``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from crm.app.config import Settings
from crm.app.jobs import Job
from crm.app.wiring import Wiring
from crm.app.worker import JobRuntime, create_celery_app, task_name
from tests.factories import add_reminder, make_task
from tests.messaging.support import make_due
from tests.outbox import outbox_rows

CRM_WORKER = Path(sys.executable).with_name("crm-worker")
TIMEOUT = 30.0


def worker_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The test's environment without any CRM_ setting of the shell, plus the given ones."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update({f"CRM_{name.upper()}": value for name, value in settings.items()})
    env["CRM_DATA_DIR"] = str(tmp_path)
    return env


async def due_reminder(api, db) -> dict:
    reminder = await add_reminder(api, await make_task(api), channel="sse")
    await make_due(db, reminder)
    return reminder


async def forget_queue(cache_url: str, queue: str) -> None:
    """Kombu leaves the queue and its bindings in Redis; this run's name is never used again."""
    client = aioredis.Redis.from_url(cache_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{queue}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def test_a_worker_runs_the_job_it_is_sent(api, db, database_url, cache_url, run_id, tmp_path):
    queue = f"crm-worker-{run_id}"
    reminder = await due_reminder(api, db)
    log_path = tmp_path / "worker.log"
    env = worker_env(tmp_path, database_url=database_url, celery_broker_url=cache_url, worker_queue=queue)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CRM_WORKER), "worker", "--pool", "solo", "-l", "info", "-Q", queue, "-n", f"{queue}@%h"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
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
        await asyncio.to_thread(celery_app.send_task, task_name("task-reminders"))
        deadline = time.monotonic() + TIMEOUT
        fired = None
        while time.monotonic() < deadline and process.poll() is None:
            fired = next(iter(await outbox_rows(db, routing_key="task.reminder")), None)
            if fired is not None:
                break
            await asyncio.sleep(0.2)
        assert fired is not None, f"no task.reminder within {TIMEOUT} s; worker log:\n{log_path.read_text()}"
        assert str(fired["aggregate_id"]) == reminder["task_id"]
        assert await db.fetchval("SELECT sent_at FROM crm.task_reminders") is not None
    finally:
        stop(process)
        celery_app.close()
        await forget_queue(cache_url, queue)
    assert process.returncode == 0, log_path.read_text()


async def test_run_fires_a_due_reminder_and_prints_its_summary(api, db, database_url, tmp_path):
    reminder = await due_reminder(api, db)
    process = await asyncio.create_subprocess_exec(
        str(CRM_WORKER),
        "run",
        "task-reminders",
        env=worker_env(tmp_path, database_url=database_url),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"job": "task-reminders", "fired": 1, "dropped": 0}], lines
    row = (await outbox_rows(db, routing_key="task.reminder"))[0]
    assert str(row["aggregate_id"]) == reminder["task_id"]


@pytest.mark.parametrize("command", [["worker", "-l", "info"], ["beat"]])
def test_without_a_broker_the_worker_names_both_settings_and_exits_2(command, database_url, tmp_path):
    result = subprocess.run(
        [str(CRM_WORKER), *command],
        env=worker_env(tmp_path, database_url=database_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()
    assert len(message) == 1
    assert "CRM_CELERY_BROKER_URL" in message[0] and "CRM_REDIS_URL" in message[0]


def test_a_process_runs_its_jobs_in_one_loop_with_one_pool(database_url):
    runtime = JobRuntime(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    seen: list[tuple[object, object]] = []

    async def look(app: Wiring) -> dict[str, object]:
        seen.append((asyncio.get_running_loop(), app.pool))
        return {"answer": await app.pool.fetchval("SELECT 42")}

    job = Job("look", timedelta(minutes=1), look)
    try:
        assert runtime.run(job) == {"job": "look", "answer": 42}
        assert runtime.run(job) == {"job": "look", "answer": 42}
    finally:
        runtime.close()
    (loop_1, pool_1), (loop_2, pool_2) = seen
    assert loop_1 is loop_2 and pool_1 is pool_2
    assert pool_1.is_closing() and loop_1.is_closed()
    runtime.close()  # twice is fine
