"""Who may see and change which records: the one place the access rules are written.

Admins and managers see and change everything. Anyone else reaches a record through a relation:

* they own it (its owner column names them: a client's or policy's ``owner_id``, a task's assignee or author), or
* it hangs off a deal they stand in a relation to — the deal's owner or a co-owner on its team (``OWNER``), an
  executor on its team (``EXECUTOR``), or the assignee of one of its live tasks (``ASSIGNEE``).

``SEE`` and ``CHANGE`` say, per kind of record, which relations grant what. A record the caller may not see does
not exist for them (404); one they see but may not change is refused (403). The repositories and readers turn
these grants into SQL (``crm.infrastructure.db.access``), so lists, totals and metrics are filtered by the
database, never after loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from crm.domain.caller import Caller, Role
from crm.domain.errors import FieldProblem, Forbidden


class MemberRole(StrEnum):
    """A person's place on a deal team."""

    EXECUTOR = "executor"
    CO_OWNER = "co_owner"


class DealRelation(StrEnum):
    OWNER = "owner"  # the deal's owner_id, or a co-owner on its team
    EXECUTOR = "executor"  # an executor on its team
    ASSIGNEE = "assignee"  # the assignee of one of its live tasks


RELATION_OF_MEMBER: Mapping[MemberRole, DealRelation] = {
    MemberRole.CO_OWNER: DealRelation.OWNER,
    MemberRole.EXECUTOR: DealRelation.EXECUTOR,
}


class Resource(StrEnum):
    CLIENT = "client"
    DEAL = "deal"
    POLICY = "policy"
    CALCULATION = "calculation"
    JOURNAL = "journal"
    TASK = "task"
    # A payment, its incomes, expenses and history are reached through their policy, and follow its grants.


@dataclass(frozen=True, slots=True)
class Grant:
    own: bool
    """Owning the record grants it."""
    via_deal: frozenset[DealRelation]
    """These relations to the record's deal grant it (for a client: to one of its deals)."""


ANY_RELATION = frozenset(DealRelation)
OWNERS = frozenset({DealRelation.OWNER})

SEE: Mapping[Resource, Grant] = {
    Resource.CLIENT: Grant(own=True, via_deal=ANY_RELATION),
    Resource.DEAL: Grant(own=False, via_deal=ANY_RELATION),
    Resource.POLICY: Grant(own=True, via_deal=ANY_RELATION),
    Resource.CALCULATION: Grant(own=False, via_deal=ANY_RELATION),
    Resource.JOURNAL: Grant(own=False, via_deal=ANY_RELATION),
    Resource.TASK: Grant(own=True, via_deal=ANY_RELATION),
}
CHANGE: Mapping[Resource, Grant] = {
    Resource.CLIENT: Grant(own=True, via_deal=frozenset()),
    Resource.DEAL: Grant(own=False, via_deal=OWNERS),
    Resource.POLICY: Grant(own=True, via_deal=OWNERS),
    Resource.CALCULATION: Grant(own=False, via_deal=OWNERS),
    Resource.JOURNAL: Grant(own=False, via_deal=ANY_RELATION),  # the whole team writes the journal
    Resource.TASK: Grant(own=True, via_deal=OWNERS),
}

# Who may start a record of their own that no deal grants: a client, a deal, a policy.
CREATORS = frozenset({Role.ADMIN, Role.MANAGER, Role.SELLER})


@dataclass(frozen=True, slots=True)
class Access:
    """The records a caller reaches: ``everything``, or what ``user_id``'s relations grant (nothing when the
    caller has no id)."""

    user_id: UUID | None
    everything: bool

    @classmethod
    def of(cls, caller: Caller) -> Access:
        return cls(user_id=caller.actor_id, everything=caller.is_privileged)


EVERYTHING = Access(user_id=None, everything=True)


def require_creator(caller: Caller, resource: Resource) -> None:
    """A client, deal or policy is started by an admin, a manager or a seller."""
    if not caller.roles & CREATORS:
        raise Forbidden(f"Only admins, managers and sellers create a {resource}.")


def owner_for(caller: Caller, requested: UUID | None, *, field: str = "owner_id") -> UUID | None:
    """The owner a new record gets: admins and managers assign anyone (or no one); anyone else owns what they
    create and may not hand it to someone else."""
    if caller.is_privileged:
        return requested
    owner = caller.actor_id if requested is None else requested
    check_reassignment(caller, {field: owner}, field=field)
    return owner


def check_reassignment(caller: Caller, changes: Mapping[str, object], *, field: str = "owner_id") -> None:
    """Admins and managers hand records over; anyone else may only take one for themselves."""
    if field in changes and not caller.is_privileged and changes[field] != caller.actor_id:
        raise Forbidden(
            "Only admins and managers assign a record to someone else.",
            errors=[FieldProblem(field, "must be your own id")],
        )


def require_intake(caller: Caller) -> None:
    """Appeals and leads are taken in by the roles that start records (an intake channel's service account is one
    of them)."""
    if not caller.roles & CREATORS:
        raise Forbidden("Only admins, managers and sellers take in appeals and leads.")


def sees_every_appeal(caller: Caller) -> bool:
    """Admins and managers see and handle every appeal and lead. Anyone else sees the appeals assigned to the
    operator they are (the live operator whose ``user_id`` is theirs) and those appeals' leads, and handles
    (closes, converts, hands back) those appeals; an appeal handed to someone else leaves their sight."""
    return caller.is_privileged


def require_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(f"Only admins {action}.")


def require_privileged(caller: Caller, action: str) -> None:
    if not caller.is_privileged:
        raise Forbidden(f"Only admins and managers {action}.")


def require_contacts_access(caller: Caller, user_id: UUID, *, change: bool) -> None:
    """A user reads and sets their own contacts; admins anyone's; managers read anyone's (they see everything,
    and whom an occasion reaches is theirs to check). Anyone else is refused whether a record exists or not, so
    the answer tells nothing about another user."""
    if caller.actor_id == user_id or caller.is_admin or (caller.is_privileged and not change):
        return
    if change:
        raise Forbidden("Only the user themselves and admins set a user's contacts.")
    raise Forbidden("Only the user themselves, admins and managers read a user's contacts.")
