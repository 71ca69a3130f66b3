"""``crm-api``: serve the API (default) or migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import ExitStack

import asyncpg
import structlog
import uvicorn

from crm.app.config import Settings
from crm.app.embedded import embedded_postgres
from crm.app.logging import configure_logging
from crm.infrastructure.db.migrations import current_revision, head_revision, upgrade_to_head
from crm.infrastructure.db.pool import asyncpg_dsn

log = structlog.get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-api", description="CRM/Deals API service.")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (the default)")
    serve.add_argument("--host", help="overrides CRM_SERVICE_HOST")
    serve.add_argument("--port", type=int, help="overrides CRM_SERVICE_PORT")
    commands.add_parser("migrate", help="upgrade the database (CRM_DATABASE_URL or embedded) to the head")
    return parser


async def _revision(url: str) -> str | None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        return await current_revision(connection)
    finally:
        await connection.close()


def _exit_cleanly(signum: int, _frame: object) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; with the default handler
    # that kills the process before `main` can stop the embedded PostgreSQL, so exit through Python.
    raise SystemExit(0)


def _serve(settings: Settings, url: str, host: str, port: int) -> None:
    from crm.app.main import create_app

    app = create_app(settings.model_copy(update={"database_url": url}))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=settings.access_log,
        proxy_headers=True,
    )
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    with ExitStack() as stack:
        url = settings.database_url
        embedded = url is None
        if url is None:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
        if args.command == "migrate" or embedded:
            upgrade_to_head(url)
            log.info("database migrated", head=head_revision())
            if args.command == "migrate":
                return 0
        else:
            revision = asyncio.run(_revision(url))
            if revision != head_revision():
                print(
                    f"crm-api: the database is at migration {revision or 'none'}, this code needs "
                    f"{head_revision()}. Run `crm-api migrate` (or `alembic upgrade head`) first.",
                    file=sys.stderr,
                )
                return 1
        host = getattr(args, "host", None) or settings.service_host
        port = getattr(args, "port", None) or settings.service_port
        _serve(settings, url, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
