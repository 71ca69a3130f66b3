"""Schemathesis over the whole OpenAPI document: no input answers 5xx, and every answer is what the document says.

The application is the real one (middleware, handlers, services, repositories, token checks) on a fresh database of
its own, so every run starts from the same state and the fixed seed makes it repeatable. Requests carry an admin's
token through the document's bearer scheme (the ``ignored_auth`` check also sends them without it, and with a bad
one). All four phases run: the document's examples, the coverage phase (boundary and missing values, wrong types,
undeclared methods), fuzzing with positive and negative data, and stateful sequences along the document's links
(create, then get, change, delete, restore what was created). Every check runs.

Refusals of schema-valid requests that depend on state or on today are the API working, not the document lying;
``filter_failure`` accepts exactly those, by problem code, and nothing refused as ``validation_error``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from redis.asyncio import Redis
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as engine_events
from schemathesis.python import asgi as schemathesis_asgi

from crm.app.config import Settings
from crm.app.main import create_app
from crm.domain.automation.schemas import CONDITION_RULES
from crm.infrastructure.db.migrations import upgrade_to_head
from tests.apps import UNREACHED_RATE_LIMIT
from tests.auth import ADMIN_ID, SECRET, token

SEED = 20261201
MAX_EXAMPLES = 15
STATEFUL_EXAMPLES = 60

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "cache": {"enabled": False},  # nothing carried between runs, nothing written into the worktree
    "workers": 1,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True},
    "checks": {"enabled": True},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        # Error feedback copies field names from 4xx answers into later bodies (a calculation's missing `files`
        # into its status change), which the document forbids; such a body is not the schema-valid input the
        # positive-data check assumes.
        "fuzzing": {"enabled": True, "error-feedback": {"enabled": False}},
        # The document's links only: inferred ones feed nullable fields (a task's policy_id: null) into paths.
        "stateful": {
            "enabled": True,
            "inference": {"algorithms": []},
            "generation": {"max-examples": STATEFUL_EXAMPLES},
        },
    },
    # An endless event stream has no answer to check; tests/messaging covers them.
    "operations": [
        {"include-path": "/streams/deals", "enabled": False},
        {"include-path": "/api/notifications/stream", "enabled": False},
    ],
}

# Problem codes by which the API refuses a request the document cannot judge: a rule over today's date or
# over stored state, an opaque token (cursor, ETag, idempotency key) it did not issue for this request, or a
# rule across fields. Validation of a single value is never among them: the document must say it.
STATE_AND_RULE_CODES = {
    "actual_date_before_planned_date",
    "actual_date_in_future",
    "posted_at_in_future",
    "currency_mismatch",
    "correction_needs_note",
    "calculation_update_forbidden",
    "files_required_for_ready",
    "program_required_for_ready",
    "premium_required_for_ready",
    "validity_period_required_for_ready",
    "cancelled_reason_required",
    "scheduled_for_required",
    "policy_client_mismatch",
    "policy_terms_required",
    "precondition_failed",
    "invalid_cursor",
    "idempotency_key_reused",
    "telegram_id_required",
    # What a pipeline asks of a deal's move: a lost reason (from its list), or the stage when its kinds do not decide.
    "lost_reason_required",
    "invalid_lost_reason",
    "stage_required",
    # A CSV import's body is text: that it has a header naming client fields, and rows that are clients, is a
    # grammar no JSON Schema of a string states (docs/export-import.md says it, and the answer names each line).
    "invalid_csv",
    "invalid_rows",
}
# Generic rule refusals, recognised by the fields they name: each is a rule across fields or over "now".
# A template `body` must compile as Jinja2, which no JSON Schema can state.
# A notification's deduplication_key may not be of the kind the service's own notifications use, and one naming
# nobody must go on the stream: rules across a prefix and other fields.
# A statistics period's `to` must come after its `from` (whose default is 7 days before `to`, whose default is now)
# and at most 366 days after it.
RULE_FIELDS = {
    "scheduled_for",
    "remind_at",
    "cancelled_reason",
    "effective_to",
    "body",
    "deduplication_key",
    "channel_overrides",
    "from",
    "to",
}
# ... but never a refusal the document could have stated.
NULL_REFUSED = "may be changed but not set to null"
# Rules across the fields of one value, which a JSON Schema cannot state; and unpaired surrogates in a free-form
# JSON value, which no pattern can state (the API takes I-JSON, RFC 7493, as its description says).
# An operator's shifts and absences: an end after its start, none overlapping another of the list.
CROSS_FIELD_MESSAGES = {
    "end must not be before start",
    "a recipient needs a user_id or a telegram_id",
    "`to` must be later than `from`",
    "shifts of one day must not overlap",
    "`ends_at` must be later than `starts_at`",
    "absences must not overlap",
    # An automation rule's data conditions (operator and value) and amount range (its bounds).
    *CONDITION_RULES,
}
# Items of a list unique by one of their fields (a permission sync's users, a source's weights per operator) is
# beyond uniqueItems too.
UNSTATABLE_MESSAGE_PARTS = ("unpaired UTF-16 surrogates", "levels deep", "bytes as JSON", "listed more than once")
# Stage keys and ids are a pipeline's stored stages (a deal moves to a key of its pipeline, a filter names keys some
# pipeline has, an order lists the pipeline's stages); and a pipeline's stages follow rules across the items (keys
# unique, an open, a won and a lost one, a contract key of its kind): the document can state neither. Lost reasons are
# uniqueItems, but two that differ only in surrounding whitespace are one once trimmed.
PIPELINE_MESSAGE_PARTS = (
    "compared without surrounding whitespace",
    "not a stage of the pipeline",
    "is no stage key",
    "not a live stage of this pipeline",
    "missing from the order",
    "another stage of the pipeline has this key",
    "a pipeline needs an open, a won and a lost stage",
    "stage in every pipeline",
    # An automation rule names stored stages and pipelines.
    "no such stage",
    "no such pipeline",
    "no pipeline has a stage with this key",
)


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


ACCEPTED: Counter[str] = Counter()


def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a schema-valid request refused for state or for a rule across values."""
    keep = _is_a_failure(failure, response)
    if not keep:
        problem = _problem(response)
        detail = ""
        if problem.get("code") in ("rule_violation", "validation_error"):
            detail = " " + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors", []))
        ACCEPTED[f"{response.status_code} {problem.get('code')}{detail}"] += 1
    return keep


def _is_a_failure(failure: Any, response: Any) -> bool:
    if failure.code != "ST202":  # positive_data_acceptance
        return True
    problem = _problem(response)
    code = problem.get("code")
    fields = {error.get("field") for error in problem.get("errors", [])}
    messages = {error.get("message") for error in problem.get("errors", [])}
    if code in STATE_AND_RULE_CODES:
        return False
    if code == "rule_violation" and fields and fields <= RULE_FIELDS and NULL_REFUSED not in messages:
        return False
    unstatable = {
        m
        for m in messages
        if m in CROSS_FIELD_MESSAGES or any(p in m for p in (*UNSTATABLE_MESSAGE_PARTS, *PIPELINE_MESSAGE_PARTS))
    }
    return not (code == "validation_error" and messages and messages == unstatable)


@dataclass(frozen=True)
class Found:
    phase: str
    check: str
    operation: str
    status: int | None
    code: str | None
    request: str

    def __str__(self) -> str:
        return f"[{self.phase}] {self.check}: {self.operation} -> {self.status} {self.code or ''}\n    {self.request}"


def _request_summary(interaction: Any) -> str:
    if interaction is None:
        return ""
    request = interaction.request
    body = (request.body or b"").decode(errors="replace")
    return f"{request.method} {request.uri} {body[:300]}"


def _run(schema: Any) -> tuple[list[Found], list[str], Counter[str]]:
    found: list[Found] = []
    errors: list[str] = []
    requests: Counter[str] = Counter()
    phase_started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, engine_events.PhaseStarted):
            phase_started = time.monotonic()
        elif isinstance(event, engine_events.PhaseFinished):
            name = event.phase.name.value if hasattr(event.phase.name, "value") else str(event.phase.name)
            print(f"{name}: {time.monotonic() - phase_started:.1f} s, {requests[name]} requests")
        elif isinstance(event, engine_events.ScenarioFinished):
            recorder = event.recorder
            requests[str(event.phase.value if hasattr(event.phase, "value") else event.phase)] += len(
                recorder.interactions
            )
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    interaction = recorder.interactions.get(case_id)
                    response = interaction.response if interaction is not None else None
                    found.append(
                        Found(
                            phase=str(event.phase.value if hasattr(event.phase, "value") else event.phase),
                            check=f"{failure.code} {failure.title}",
                            operation=failure.operation or recorder.label,
                            status=response.status_code if response is not None else None,
                            code=_problem(response).get("code") if response is not None else None,
                            request=_request_summary(interaction),
                        )
                    )
        elif isinstance(event, engine_events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, engine_events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return found, errors, requests


@pytest.fixture
def schemathesis_settings(make_database, cache_url: str, run_id: str) -> Iterator[Settings]:
    url = make_database("crm_schemathesis")
    upgrade_to_head(url)
    prefix = f"bull-schemathesis-{run_id}"
    rate_limits = f"crm:rate-limit:schemathesis:{run_id}"
    yield Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        access_log=False,
        relay_enabled=False,
        redis_url=cache_url,
        permissions_queue_prefix=prefix,
        stream_channel=f"crm.stream.schemathesis.{run_id}",
        jwt_access_secret=SECRET,
        # Counted in Redis, as in production, but never reached: a 429 would be no finding about the document.
        rate_limit_requests=UNREACHED_RATE_LIMIT,
        rate_limit_prefix=rate_limits,
    )
    asyncio.run(_delete_keys(cache_url, f"{prefix}:*"))
    asyncio.run(_delete_keys(cache_url, f"{rate_limits}:*"))


async def _delete_keys(redis_url: str, pattern: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=pattern)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def test_every_answer_is_documented_and_none_is_a_server_error(schemathesis_settings):
    app = create_app(schemathesis_settings)
    auth = {"openapi": {"bearerAuth": {"bearer": token(ADMIN_ID, "admin")}}}
    config = schemathesis.Config.from_dict({**CONFIG, "auth": auth})
    started = time.monotonic()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        schema.hook(filter_failure)
        found, errors, requests = _run(schema)
    finally:
        schemathesis_asgi.shutdown_lifespans()
    elapsed = time.monotonic() - started
    total = sum(requests.values())
    print(f"{total} requests in {elapsed:.0f} s; schema-valid requests refused by rule or state:")
    for refusal, count in ACCEPTED.most_common():
        print(f"  {count:5} {refusal[:200]}")
    report = "\n".join(str(f) for f in sorted(set(found), key=str))
    assert not errors, "\n".join(errors)
    assert not found, f"{len(found)} failures in {total} requests ({elapsed:.0f} s):\n{report}"
    # Every phase ran, the stateful one along the document's links.
    assert all(requests[phase] > 50 for phase in ("examples", "coverage", "fuzzing", "stateful")), requests
