"""crm-worker's metrics: runs, failures and durations of each job, served for Prometheus on
``CRM_WORKER_METRICS_PORT`` by ``crm-worker worker``.

Celery's prefork pool runs the jobs in child processes, each with memory of its own. The figures are kept the way
prometheus_client's multiprocess mode keeps them: every process writes its own to memory-mapped files in one
directory, and the worker's main process, which serves ``/metrics`` from a thread, adds them up at each scrape.
So the counters of a child that Celery replaced (``--max-tasks-per-child``, a killed child) stay counted for as
long as the worker runs; a restarted worker starts from zero, which Prometheus's ``rate()`` and ``increase()``
take as a counter reset. The same holds for the solo and thread pools, where the main process writes the files.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

# prometheus_client reads the directory of the multiprocess mode from this variable.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Not "job": Prometheus gives every scraped series its scrape job's name in that label.
LABEL = "job_name"
# Seconds: most runs take milliseconds; a job works in batches for at most its budget, and is ended at 5 minutes.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class JobMetrics:
    """Counters and a histogram per job. Made with ``registry=None`` in multiprocess mode, where the files are
    what is read; with a registry of its own elsewhere (a test)."""

    def __init__(self, jobs: Iterable[str], registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # as crm-api does (crm.api.metrics)
        self._runs = Counter(
            "crm_worker_job_runs", "Job runs started (each retry is a run), by job.", [LABEL], registry=registry
        )
        self._failures = Counter(
            "crm_worker_job_failures",
            "Job runs that raised (a transient error is retried as another run), by job.",
            [LABEL],
            registry=registry,
        )
        self._duration = Histogram(
            "crm_worker_job_duration_seconds",
            "How long job runs took, failed ones included, by job.",
            [LABEL],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        for job in jobs:
            # Every job's series exists from the start, at 0: a job that never failed still has a failure rate.
            self._runs.labels(job)
            self._failures.labels(job)

    @contextlib.contextmanager
    def run(self, job: str) -> Iterator[None]:
        self._runs.labels(job).inc()
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self._failures.labels(job).inc()
            raise
        finally:
            self._duration.labels(job).observe(time.perf_counter() - started)


def enable_multiprocess(directory: Path) -> None:
    """Every metric made from now on, in this process and the processes it forks, keeps its value in a file in
    ``directory``. Called before any metric of crm-worker is made."""
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    # The library picks how values are kept when it is first imported; this process may have imported it before
    # the directory was chosen.
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def serve_job_metrics(port: int, address: str) -> Path:
    """Starts serving ``/metrics`` on ``address:port`` from a thread of this (the worker's main) process and turns
    multiprocess mode on; returns the directory of the files. ``PROMETHEUS_MULTIPROC_DIR``, when set, names the
    directory (its old files are removed: they are a previous run's); else a new temporary one is made, and
    removed when this process exits."""
    given = os.environ.get(MULTIPROCESS_DIR_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="crm-worker-metrics-"))
        owner = os.getpid()

        def remove() -> None:
            if os.getpid() == owner:  # not in a forked child that happens to run atexit hooks
                shutil.rmtree(directory, ignore_errors=True)

        atexit.register(remove)
    enable_multiprocess(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    start_http_server(port, addr=address, registry=registry)
    return directory
