"""The access rules of ``crm.domain.access`` as SQL conditions, so the database filters what a caller reaches.

A condition is written for one table (named as in its statements: ``crm.deals`` rows as ``deals``, …) and takes
the caller's id as one parameter. An admin or manager gets no condition at all, so their statements are the
plain ones. The deals a user stands in a relation to are one ``IN (…)`` subquery, which PostgreSQL hashes once
per statement rather than probing per row — a seller's list walks the list-order index as an admin's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from crm.domain.access import CHANGE, RELATION_OF_MEMBER, SEE, Access, DealRelation, Grant, Resource
from crm.domain.errors import Forbidden
from crm.infrastructure.db.sql import Connection, Where

# The columns naming a record's owner.
OWN_COLUMNS: Mapping[Resource, tuple[str, ...]] = {
    Resource.CLIENT: ("owner_id",),
    Resource.POLICY: ("owner_id",),
    Resource.TASK: ("assignee_id", "author_id"),
}


def related_deals(relations: frozenset[DealRelation], user: str, *, owned: bool = True) -> str:
    """A subquery of the ids of the deals ``user`` (a placeholder) stands in one of ``relations`` to (deleted
    ones too: what hangs off them filters by its own ``is_deleted``); without ``owned``, leaving out those whose
    ``owner_id`` names them (a statement on the deal's own row checks that column directly)."""
    parts = []
    if DealRelation.OWNER in relations and owned:
        parts.append(f"SELECT id FROM crm.deals WHERE owner_id = {user}")
    member_roles = sorted(role.value for role, relation in RELATION_OF_MEMBER.items() if relation in relations)
    if member_roles:
        roles = ", ".join(f"'{role}'" for role in member_roles)
        parts.append(f"SELECT deal_id FROM crm.deal_members WHERE user_id = {user} AND role IN ({roles})")
    if DealRelation.ASSIGNEE in relations:
        parts.append(
            f"SELECT deal_id FROM crm.tasks WHERE assignee_id = {user} AND deal_id IS NOT NULL AND NOT is_deleted"
        )
    return " UNION ALL ".join(parts)


@dataclass(frozen=True, slots=True)
class TableAccess:
    """The access conditions of one kind of record, written on the rows of ``table``.

    Usually ``table`` holds the records, and ``deal_column`` names the deal each hangs off. A gate checks the
    records of a kind on their parent instead: the calculations of a deal are granted on the deal's row
    (``TableAccess(Resource.CALCULATION, "deals", deal_column="id")``).
    """

    resource: Resource
    table: str  # how statements name the table's rows: crm.deals as deals
    deal_column: str = "deal_id"

    def granted(self, grant: Grant, user: str) -> str:
        """The condition under which ``grant`` gives ``user`` (a placeholder) a row."""
        terms = []
        if grant.own and self.resource in OWN_COLUMNS:
            terms += [f"{self.table}.{column} = {user}" for column in OWN_COLUMNS[self.resource]]
        if grant.via_deal:
            terms.append(self._via_deal(grant.via_deal, user))
        return "(" + " OR ".join(terms) + ")" if terms else "FALSE"

    def _via_deal(self, relations: frozenset[DealRelation], user: str) -> str:
        owned = DealRelation.OWNER in relations
        others = related_deals(relations, user, owned=False)
        if self.table == "deals":
            # The deal's own row (a deleted one too, which its owner may restore): its owner_id is at hand, so a
            # list walks its order's index filtering by that column and one hashed subquery.
            terms = [f"deals.owner_id = {user}"] if owned else []
            terms += [f"deals.id IN ({others})"] if others else []
            return " OR ".join(terms)
        if self.resource is Resource.CLIENT:
            # The clients of those deals; the owned ones straight from ix_deals_owner_id.
            clients = [f"SELECT client_id FROM crm.deals WHERE owner_id = {user}"] if owned else []
            clients += [f"SELECT client_id FROM crm.deals WHERE id IN ({others})"] if others else []
            return f"{self.table}.id IN ({' UNION ALL '.join(clients)})"
        return f"{self.table}.{self.deal_column} IN ({related_deals(relations, user)})"

    def sees(self, access: Access, where: Where) -> None:
        """Restrict ``where`` to the rows ``access`` may see."""
        self._restrict(access, where, SEE[self.resource])

    def changes(self, access: Access, where: Where) -> None:
        """Restrict ``where`` to the rows ``access`` may change."""
        self._restrict(access, where, CHANGE[self.resource])

    def _restrict(self, access: Access, where: Where, grant: Grant) -> None:
        if access.everything:
            return
        if access.user_id is None:
            where.conditions.append("FALSE")
            return
        where.conditions.append(self.granted(grant, where.param(access.user_id)))

    async def is_live(self, connection: Connection | asyncpg.Pool, access: Access, record_id: UUID) -> bool:
        """Whether the record (the gate's parent) exists, is not deleted and ``access`` sees it."""
        where = Where(f"NOT {self.table}.is_deleted")
        where.add(f"{self.table}.id = {{}}", record_id)
        self.sees(access, where)
        return bool(await connection.fetchval(f"SELECT true FROM crm.{self.table} WHERE {where.sql}", *where.params))


async def reach(
    connection: Connection | asyncpg.Pool, guard: TableAccess, access: Access, record_id: UUID, *, change: bool
) -> bool:
    """Whether ``access`` sees the record; with ``change``, ``Forbidden`` unless it may also change it.

    Admins and managers are answered without a statement. For anyone else this is one statement, before the
    use case's own (which keeps checking that the record is live, and locks it).
    """
    if access.everything:
        return True
    if access.user_id is None:
        return False
    user = "$2"
    see = guard.granted(SEE[guard.resource], user)
    may_change = guard.granted(CHANGE[guard.resource], user) if change else "true"
    row = await connection.fetchrow(
        f"SELECT {may_change} AS may_change FROM crm.{guard.table} WHERE id = $1 AND {see}", record_id, access.user_id
    )
    if row is None:
        return False
    if not row["may_change"]:
        raise Forbidden(f"You may see this {guard.resource} but not change it.")
    return True
