"""The embedded PostgreSQL of a fresh machine: a private server in ``CRM_DATA_DIR`` (pgserver)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) the server that keeps its data in ``data_dir``; yields its URL.

    The data stays in the folder, so a restart finds it again; the server stops when the last
    process using it exits.
    """
    import pgserver  # a large import, only needed when running embedded

    pgdata = data_dir.resolve() / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL", pgdata=str(pgdata))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
