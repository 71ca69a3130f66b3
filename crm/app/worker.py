"""``crm-worker``: the Celery worker and beat that run crm's jobs on a timer, and ``run <job>`` for ops.

    crm-worker worker -l info        any Celery sub-command (worker, beat, inspect, …), arguments as Celery's
    crm-worker beat -l info          one beat per deployment sends the jobs, each as often as crm.app.jobs says
    crm-worker run task-reminders    one job, once, here, without a broker; prints a JSON summary line

With ``CRM_WORKER_METRICS_PORT`` set, ``crm-worker worker`` serves its jobs' runs, failures and durations for
Prometheus on that port (``crm.app.job_metrics``).

Celery tasks are plain functions; each worker process runs the async jobs in one event loop of its own,
with one asyncpg pool made in that loop (a pool never crosses loops or processes).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

import asyncpg
import click
import structlog
from celery import Celery, signals  # type: ignore[import-untyped]

from crm.app.config import Settings
from crm.app.job_metrics import JobMetrics, serve_job_metrics
from crm.app.jobs import JOBS, Job, Summary
from crm.app.logging import configure_logging
from crm.app.wiring import Wiring, open_pool

log = structlog.get_logger(__name__)

NO_BROKER = "crm-worker: no Celery broker configured: set CRM_CELERY_BROKER_URL or CRM_REDIS_URL."
NO_DATABASE = "crm-worker: CRM_DATABASE_URL is not set; the jobs run against the service's PostgreSQL."
USAGE = """usage: crm-worker run JOB|all        run a job once, here, without a broker (see `crm-worker run --help`)
       crm-worker COMMAND [ARGS...]    a Celery command: worker, beat, inspect, … (`crm-worker COMMAND --help`)"""

# Failures worth another try: the database or the network away for a moment, a deadlock, a timeout.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, statement timeout
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization failure
)
# Exponential backoff with full jitter: the n-th retry waits a random 0..min(2**n * 2, 60) seconds.
RETRY_BACKOFF_BASE = 2
RETRY_BACKOFF_MAX = 60
MAX_RETRIES = 5
# Every job works in batches committed one by one and takes seconds; a run past this limit is ended (what it
# committed stays) and the next run, at most one interval later, goes on from there.
TASK_TIME_LIMIT = 5 * 60
# With Redis as broker a message not acknowledged within the visibility timeout (CRM_WORKER_VISIBILITY_TIMEOUT,
# 10 minutes) is handed out again: the redelivery an operator can expect after a worker was killed mid-job.
# Tasks are acknowledged late (after they ran) and a retry waits for its countdown unacknowledged, so the
# timeout must outlast the longest run plus the longest countdown, or jobs run twice for nothing; beyond that
# it only delays the redelivery. ``Redelivery.of`` keeps that true for any timeout the setting allows.


@dataclass(frozen=True, slots=True)
class Redelivery:
    """When an unacknowledged message comes back, and the run limit and retry cap that fit within that."""

    visibility_timeout: int
    time_limit: float
    retry_backoff_max: int

    @classmethod
    def of(cls, visibility_timeout: int) -> Redelivery:
        """The default limits, shortened for a shorter timeout: a run gets at most half of it and a retry's
        countdown at most a quarter, so a message is handed out again only once its run has ended."""
        return cls(
            visibility_timeout=visibility_timeout,
            time_limit=min(TASK_TIME_LIMIT, visibility_timeout / 2),
            retry_backoff_max=min(RETRY_BACKOFF_MAX, visibility_timeout // 4),
        )

    def __post_init__(self) -> None:
        if not (self.retry_backoff_max >= 1 and self.visibility_timeout > self.time_limit + self.retry_backoff_max):
            raise ValueError(f"a visibility timeout of {self.visibility_timeout} s leaves no room for a run: {self}")


# The default timeout leaves the default limits whole.
_DEFAULT_VISIBILITY: int = Settings.model_fields["worker_visibility_timeout"].default
assert Redelivery.of(_DEFAULT_VISIBILITY) == Redelivery(_DEFAULT_VISIBILITY, TASK_TIME_LIMIT, RETRY_BACKOFF_MAX)

# A worker process runs one task at a time; a job holds one connection, the relay sweep a few.
POOL_MAX_SIZE = 4

TASK_PREFIX = "crm.jobs."


def task_name(job: str) -> str:
    return TASK_PREFIX + job


class BrokerNotConfigured(RuntimeError):
    pass


class JobRuntime:
    """One event loop and one asyncpg pool per process, made when the process runs its first job.

    Meant for the prefork (default) and solo pools, where a process runs one task at a time; with a
    thread pool the lock makes the threads take turns on the one loop.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid: int | None = None
        self._runner: asyncio.Runner | None = None
        self._wiring: Wiring | None = None
        self._lock = threading.Lock()

    def run(self, job: Job) -> Summary:
        with self._lock:
            runner = self._runner_of_this_process()
            if self._wiring is None:
                self._wiring = Wiring.of(runner.run(job_pool(self._settings)), self._settings)
            return runner.run(job.run(self._wiring))

    def close(self) -> None:
        """Close the pool and the loop of this process; safe to call twice, or where nothing was made."""
        with self._lock:
            runner, wiring = self._runner, self._wiring
            if runner is None or self._pid != os.getpid():
                return
            self._runner = self._wiring = None
            try:
                if wiring is not None:
                    runner.run(asyncio.wait_for(wiring.pool.close(), timeout=10))
            except Exception:
                log.warning("closing the job pool failed", exc_info=True)
            finally:
                runner.close()

    def _runner_of_this_process(self) -> asyncio.Runner:
        pid = os.getpid()
        if self._runner is None or self._pid != pid:
            # A forked child inherits its parent's loop and pool, if any: they are the parent's to close.
            self._runner, self._wiring, self._pid = asyncio.Runner(), None, pid
        return self._runner


async def job_pool(settings: Settings) -> asyncpg.Pool:
    """The pool a process runs its jobs on: one at a time, so a few connections (the relay sweep takes most)."""
    if not settings.database_url:
        raise RuntimeError(NO_DATABASE)
    return await open_pool(settings, application_name="crm-worker", min_size=1, max_size=POOL_MAX_SIZE)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        job.name: {
            "task": task_name(job.name),
            "schedule": job.every_for(settings),
            "options": {"queue": settings.worker_queue, "expires": job.every_for(settings).total_seconds()},
        }
        for job in JOBS.values()
    }


def create_celery_app(settings: Settings, metrics: JobMetrics | None = None) -> Celery:
    """The Celery app with one task per job, each run counted in ``metrics``; raises ``BrokerNotConfigured``
    without a broker URL."""
    broker = settings.celery_broker
    if not broker:
        raise BrokerNotConfigured(NO_BROKER)
    redelivery = Redelivery.of(settings.worker_visibility_timeout)
    app = Celery("crm-worker", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.worker_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_time_limit=redelivery.time_limit,
        broker_transport_options={"visibility_timeout": redelivery.visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    runtime = JobRuntime(settings)
    metrics = metrics or JobMetrics(JOBS)
    for job in JOBS.values():
        _register(app, runtime, job, redelivery, metrics)

    def close_runtime(**_: object) -> None:
        runtime.close()

    # Prefork children get worker_process_shutdown; the solo pool runs tasks in the main process.
    signals.worker_process_shutdown.connect(close_runtime, weak=False)
    signals.worker_shutdown.connect(close_runtime, weak=False)
    atexit.register(runtime.close)
    return app


def _register(app: Celery, runtime: JobRuntime, job: Job, redelivery: Redelivery, metrics: JobMetrics) -> None:
    def run_job() -> Summary:
        with metrics.run(job.name):
            summary = runtime.run(job)
        log.info("job done", **summary)
        return summary

    run_job.__doc__ = job.work.__doc__
    # Not shared: Celery otherwise registers the task, with these options, in every app made later in the process.
    app.task(
        name=task_name(job.name),
        shared=False,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=RETRY_BACKOFF_BASE,
        retry_backoff_max=redelivery.retry_backoff_max,
        retry_jitter=True,
        max_retries=MAX_RETRIES,
    )(run_job)


def _run_parser() -> argparse.ArgumentParser:
    width = max(map(len, JOBS))
    listing = "\n".join(f"  {name:<{width}}  {job.description}" for name, job in JOBS.items())
    parser = argparse.ArgumentParser(
        prog="crm-worker run",
        description="Run a job once, in the foreground, without a broker; print its summary as one JSON line.",
        epilog=f"jobs:\n{listing}\n  {'all':<{width}}  every job above, one summary line each",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", choices=[*JOBS, "all"], metavar="JOB", help="a job name, or `all`")
    return parser


async def _run_jobs(settings: Settings, names: list[str]) -> int:
    pool = await job_pool(settings)
    app = Wiring.of(pool, settings)
    failed = 0
    try:
        for name in names:
            try:
                summary = await JOBS[name].run(app)
            except Exception as exc:
                log.exception("job failed", job=name)
                summary, failed = {"job": name, "error": f"{type(exc).__name__}: {exc}"}, failed + 1
            print(json.dumps(summary), flush=True)
    finally:
        await pool.close()
    return 1 if failed else 0


def run_once(argv: list[str], settings: Settings) -> int:
    """``crm-worker run JOB|all``: 0 when every job ran, 1 when one failed, 2 when it cannot start."""
    args = _run_parser().parse_args(argv)
    if not settings.database_url:
        print(NO_DATABASE, file=sys.stderr)
        return 2
    names = list(JOBS) if args.job == "all" else [args.job]
    return asyncio.run(_run_jobs(settings, names))


def _celery_logging(settings: Settings) -> None:
    """Celery's ``-l`` level wins over CRM_LOG_LEVEL; the format stays the service's."""

    def setup(loglevel: int | str | None = None, **_: object) -> None:
        level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
        configure_logging(settings.model_copy(update={"log_level": level}) if level else settings)

    # With a receiver connected, Celery leaves logging to it.
    signals.setup_logging.connect(setup, weak=False)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    configure_logging(settings)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "run":
        return run_once(args[1:], settings)
    serves_metrics = (
        args[0] == "worker" and settings.worker_metrics_port is not None and not {"-h", "--help"} & set(args)
    )
    if serves_metrics:
        assert settings.worker_metrics_port is not None
        # Before the jobs' metrics are made: they keep their values where the main process reads them.
        try:
            serve_job_metrics(settings.worker_metrics_port, settings.worker_metrics_address)
        except OSError as exc:
            print(f"crm-worker: cannot serve metrics on port {settings.worker_metrics_port}: {exc}", file=sys.stderr)
            return 2
    try:
        app = create_celery_app(settings)
    except BrokerNotConfigured as exc:
        print(exc, file=sys.stderr)
        return 2
    if args[0] == "worker" and not settings.database_url and not {"-h", "--help"} & set(args):
        print(NO_DATABASE, file=sys.stderr)
        return 2
    if args[0] == "beat" or (args[0] == "worker" and {"-B", "--beat"} & set(args)):
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule file there
    _celery_logging(settings)
    try:
        return int(app.start(args) or 0)
    except click.ClickException as exc:  # Celery runs click without its own error reporting
        exc.show()
        return exc.exit_code
    except click.Abort:
        print("Aborted!", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
