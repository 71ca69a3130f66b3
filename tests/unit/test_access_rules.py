"""The access rules of crm.domain.access and their SQL: who is privileged, who owns what they create, and the
conditions the database filters by."""

from __future__ import annotations

import uuid

import pytest

from crm.domain.access import (
    CHANGE,
    SEE,
    Access,
    DealRelation,
    Resource,
    check_reassignment,
    owner_for,
    require_creator,
)
from crm.domain.caller import Caller, Role, roles_of
from crm.domain.errors import Forbidden
from crm.infrastructure.db.access import TableAccess, related_deals
from crm.infrastructure.db.sql import Where

ME = uuid.uuid4()


def caller(*roles: Role) -> Caller:
    return Caller(actor_id=ME, roles=frozenset(roles))


@pytest.mark.parametrize(
    ("claimed", "roles"),
    [
        (["ROLE_ADMIN"], {Role.ADMIN}),
        (["admin"], {Role.ADMIN}),
        (["ROLE_MANAGER", "role_seller"], {Role.MANAGER, Role.SELLER}),
        (["ROLE_EXECUTOR", "ROLE_USER"], {Role.EXECUTOR, Role.USER}),
        (["ROLE_SUPERUSER", "", " seller "], {Role.SELLER}),
    ],
)
def test_roles_are_read_in_either_spelling_and_unknown_ones_ignored(claimed, roles):
    assert roles_of(claimed) == roles


def test_admins_and_managers_reach_everything_and_others_only_their_relations():
    assert Access.of(caller(Role.ADMIN)).everything
    assert Access.of(caller(Role.MANAGER)).everything
    assert not Access.of(caller(Role.SELLER, Role.EXECUTOR)).everything
    assert Access.of(caller(Role.SELLER)).user_id == ME


def test_only_admins_managers_and_sellers_start_clients_deals_and_policies():
    for role in (Role.ADMIN, Role.MANAGER, Role.SELLER):
        require_creator(caller(role), Resource.DEAL)
    for role in (Role.EXECUTOR, Role.USER):
        with pytest.raises(Forbidden):
            require_creator(caller(role), Resource.DEAL)


def test_a_seller_owns_what_they_create_and_a_manager_assigns_anyone():
    someone = uuid.uuid4()
    assert owner_for(caller(Role.SELLER), None) == ME
    assert owner_for(caller(Role.SELLER), ME) == ME
    assert owner_for(caller(Role.MANAGER), someone) == someone
    assert owner_for(caller(Role.MANAGER), None) is None
    with pytest.raises(Forbidden):
        owner_for(caller(Role.SELLER), someone)


def test_only_admins_and_managers_hand_a_record_to_someone_else():
    check_reassignment(caller(Role.MANAGER), {"owner_id": None})
    check_reassignment(caller(Role.SELLER), {"owner_id": ME})
    check_reassignment(caller(Role.SELLER), {"title": "x"})
    with pytest.raises(Forbidden):
        check_reassignment(caller(Role.SELLER), {"owner_id": None})


def test_whoever_may_change_a_record_also_sees_it():
    for resource, change in CHANGE.items():
        see = SEE[resource]
        assert change.via_deal <= see.via_deal, resource
        assert see.own or not change.own, resource


def test_executors_write_the_journal_and_change_only_their_own_tasks():
    assert DealRelation.EXECUTOR in CHANGE[Resource.JOURNAL].via_deal
    assert DealRelation.EXECUTOR not in CHANGE[Resource.TASK].via_deal and CHANGE[Resource.TASK].own
    assert CHANGE[Resource.DEAL].via_deal == {DealRelation.OWNER}


def test_a_privileged_caller_adds_no_condition_and_one_without_an_id_reaches_nothing():
    deals = TableAccess(Resource.DEAL, "deals", deal_column="id")
    unrestricted, nobody = Where("NOT is_deleted"), Where()
    deals.sees(Access(user_id=None, everything=True), unrestricted)
    deals.sees(Access(user_id=None, everything=False), nobody)
    assert unrestricted.sql == "NOT is_deleted" and not unrestricted.params
    assert nobody.sql == "FALSE"


def test_a_sellers_condition_names_their_owned_clients_and_the_deals_they_relate_to():
    where = Where("NOT is_deleted")
    TableAccess(Resource.CLIENT, "clients").sees(Access(user_id=ME, everything=False), where)
    assert where.params == [ME]
    assert "clients.owner_id = $1" in where.sql
    assert "clients.id IN (SELECT client_id FROM crm.deals WHERE owner_id = $1 UNION ALL" in where.sql


def test_the_deals_a_user_relates_to_are_one_subquery_per_kind_of_relation():
    owners = related_deals(frozenset({DealRelation.OWNER}), "$1")
    everyone = related_deals(frozenset(DealRelation), "$1")
    assert "owner_id = $1" in owners and "role IN ('co_owner')" in owners and "crm.tasks" not in owners
    assert "role IN ('co_owner', 'executor')" in everyone and "assignee_id = $1" in everyone
