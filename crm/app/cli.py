"""``crm-api``: serve the API (default), migrate the database, print a development access token, or move inbound
events' dead letters back into their queue."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import ExitStack
from datetime import timedelta
from uuid import UUID

import asyncpg
import structlog
import uvicorn

from crm.app.auth import development_secret, with_development_secret
from crm.app.config import AuthNotConfigured, Settings
from crm.app.embedded import embedded_postgres
from crm.app.logging import configure_logging
from crm.domain.caller import Role, roles_of
from crm.infrastructure.auth.tokens import issue_token
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
    replay = commands.add_parser(
        "replay-dead-letters",
        help="move inbound events from <CRM_NOTIFICATIONS_QUEUE_NAME>.dlq back into the queue, each with a fresh "
        "delivery budget (CRM_RABBITMQ_URL)",
    )
    replay.add_argument("--limit", type=int, help="move at most this many (default: all there are)")
    token = commands.add_parser(
        "token",
        help="print an access token signed with CRM_JWT_ACCESS_SECRET (or the embedded default's development secret)",
    )
    token.add_argument("--sub", required=True, type=UUID, help="the user's id (a UUID): the token's subject")
    token.add_argument(
        "--roles", required=True, type=_roles, help="comma-separated: admin, manager, seller, executor, user"
    )
    token.add_argument("--email", help="the token's email claim")
    token.add_argument("--ttl-minutes", type=int, default=60, help="minutes until the token expires (default 60)")
    return parser


def _roles(value: str) -> list[Role]:
    """``admin,seller`` (or ``ROLE_ADMIN,ROLE_SELLER``); a name this service does not know is refused."""
    each = [roles_of([name]) for name in value.split(",") if name.strip()]
    if not each or not all(each):
        raise argparse.ArgumentTypeError(f"roles are among {', '.join(Role)}; got {value!r}")
    return sorted(frozenset().union(*each))


def _print_token(settings: Settings, args: argparse.Namespace) -> int:
    if args.ttl_minutes < 1:
        print("crm-api token: --ttl-minutes must be at least 1.", file=sys.stderr)
        return 2
    secret = settings.jwt_access_secret
    if secret is None and settings.database_url is None and not settings.token_keys_configured:
        secret = development_secret(settings.data_dir)
    if secret is None:
        print(
            "crm-api token: nothing to sign with. It signs with CRM_JWT_ACCESS_SECRET (or, on the embedded database "
            "with no key configured, its development secret); with only CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL "
            "configured, tokens come from the service holding the private key.",
            file=sys.stderr,
        )
        return 2
    print(
        issue_token(
            secret.get_secret_value().encode(),
            subject=args.sub,
            roles=args.roles,
            email=args.email,
            lifetime=timedelta(minutes=args.ttl_minutes),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


async def _revision(url: str) -> str | None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        return await current_revision(connection)
    finally:
        await connection.close()


def _replay_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    from crm.app.inbound import inbound_queues
    from crm.infrastructure.events.inbound_consumer import replay_dead_letters

    if not settings.rabbitmq_url:
        print("crm-api replay-dead-letters: CRM_RABBITMQ_URL is not set.", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("crm-api replay-dead-letters: --limit must be at least 1.", file=sys.stderr)
        return 2
    queues = inbound_queues(settings)
    moved = asyncio.run(replay_dead_letters(settings.rabbitmq_url, queues, limit=args.limit))
    print(f"moved {moved} dead letter(s) from {queues.dead_letters} back to {queues.queue}")
    return 0


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
    if args.command == "token":
        return _print_token(settings, args)
    if args.command == "replay-dead-letters":
        return _replay_dead_letters(settings, args)
    if args.command != "migrate":
        settings = with_development_secret(settings)
        try:
            settings.require_token_keys()
        except AuthNotConfigured as exc:
            print(f"crm-api: {exc}", file=sys.stderr)
            return 2
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
