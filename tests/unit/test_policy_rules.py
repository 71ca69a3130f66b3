"""Policy input rules and the document-link use case's order of work, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from crm.app.config import Settings
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import DocumentNotFound, RuleViolation
from crm.domain.pagination import Page
from crm.domain.policies.document_service import PolicyDocumentService
from crm.domain.policies.documents import AcceptAllDocuments, PolicyDocument
from crm.domain.policies.rules import check_period
from crm.domain.policies.schemas import PolicyCreate, PolicyUpdate

BASE = {
    "policy_number": " CASCO-1 ",
    "client_id": str(uuid.uuid4()),
    "deal_id": str(uuid.uuid4()),
    "premium": "10.5",
    "effective_from": "2027-01-01",
    "effective_to": "2027-12-31",
}


def test_policy_number_is_trimmed_and_currency_left_to_the_service():
    policy = PolicyCreate.model_validate(BASE)
    assert policy.policy_number == "CASCO-1"
    assert policy.premium == Decimal("10.50")
    assert policy.currency is None
    assert policy.status == "draft"


@pytest.mark.parametrize("premium", ["-0.01", -1, "1.234", 10**12])
def test_premium_must_be_a_non_negative_amount(premium):
    with pytest.raises(ValidationError) as info:
        PolicyCreate.model_validate({**BASE, "premium": premium})
    assert info.value.errors()[0]["loc"] == ("premium",)


def test_patch_takes_the_same_rules():
    with pytest.raises(ValidationError):
        PolicyUpdate.model_validate({"premium": "-1"})
    assert PolicyUpdate.model_validate({"currency": " eur "}).currency == "EUR"


def test_period_may_be_one_day_but_not_reversed():
    check_period(date(2027, 1, 1), date(2027, 1, 1))
    with pytest.raises(RuleViolation) as info:
        check_period(date(2027, 1, 2), date(2027, 1, 1))
    assert [e.field for e in info.value.errors] == ["effective_to"]


def test_documents_settings_default_to_unchecked_links():
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.documents_base_url is None
    assert settings.documents_timeout == 3.0
    with pytest.raises(ValidationError):
        Settings(_env_file=None, documents_base_url="documents:8080")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, documents_timeout=0)  # type: ignore[call-arg]


async def test_accept_all_catalog_accepts_any_id():
    assert await AcceptAllDocuments().exists(uuid.uuid4()) is True


# --- the link use case asks Documents before it opens a transaction ----------------------------------------


class Journal(list[str]):
    pass


class FakeReader:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def get(self, policy_id, access):
        self.journal.append("read policy")
        return object()

    async def page(self, policy_id, page):
        return Page[PolicyDocument](items=[])


class FakeCatalog:
    def __init__(self, journal: Journal, known: bool) -> None:
        self.journal, self.known = journal, known

    async def exists(self, document_id):
        self.journal.append("ask documents")
        return self.known


class FakePolicies:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def reach(self, policy_id, *, change):
        return True

    async def lock_live_for_share(self, policy_id):
        self.journal.append("lock policy")
        return True


class FakeLinks:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def add(self, link_id, policy_id, document_id, actor_id):
        self.journal.append("insert link")
        return PolicyDocument(
            id=link_id, policy_id=policy_id, document_id=document_id, created_at=datetime(2027, 1, 1, tzinfo=UTC)
        )


class FakeUnitOfWork:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.policies = FakePolicies(journal)
        self.policy_documents = FakeLinks(journal)
        self.events: list[str] = []

    async def __aenter__(self):
        self.journal.append("begin")
        return self

    async def __aexit__(self, *exc):
        self.journal.append("end")

    def record(self, event):
        self.events.append(event.routing_key)

    async def commit(self, result=None):
        self.journal.append(f"commit {self.events}")


def service(journal: Journal, known: bool) -> PolicyDocumentService:
    return PolicyDocumentService(
        lambda caller, idempotency=None: FakeUnitOfWork(journal),  # type: ignore[arg-type,return-value]
        FakeReader(journal),  # type: ignore[arg-type]
        FakeReader(journal),  # type: ignore[arg-type]
        FakeCatalog(journal, known),
        Clock(ZoneInfo("Europe/Moscow")),
    )


async def test_documents_is_asked_before_the_transaction_begins():
    journal = Journal()
    await service(journal, known=True).link(uuid.uuid4(), uuid.uuid4(), Caller())
    assert journal == [
        "read policy",
        "ask documents",
        "begin",
        "lock policy",
        "insert link",
        "commit ['policy.document.linked']",
        "end",
    ]


async def test_unknown_document_never_opens_a_transaction():
    journal = Journal()
    with pytest.raises(DocumentNotFound):
        await service(journal, known=False).link(uuid.uuid4(), uuid.uuid4(), Caller())
    assert journal == ["read policy", "ask documents"]
