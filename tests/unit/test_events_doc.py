"""docs/events.md documents exactly the routing keys the code emits, each with a real example CloudEvent.

The keys are read from the source of ``crm/domain``: every string literal shaped like a routing key
(``"deal.payment.updated"``), and every f-string shaped like one (``f"deal.payment.{kind}.created"``), expanded
with the values its placeholders can take. A placeholder this test does not know fails it, so a new way of
building keys gets taught here rather than silently skipped.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from crm.domain.calculations.rules import TRANSITIONS
from crm.domain.payments.schemas import LineKind
from crm.domain.payments.service import Action

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "crm" / "domain"
DOC = ROOT / "docs" / "events.md"

WORD = r"[a-z][a-z_]*"
ROUTING_KEY = re.compile(rf"{WORD}(?:\.{WORD})+")
# The literal text of a routing-key f-string has nothing but these.
KEY_TEXT = re.compile(r"[a-z_.]+")

# What each placeholder used in a routing-key f-string can be, taken from the code that decides it.
PLACEHOLDER_VALUES: dict[str, tuple[str, ...]] = {
    # payments/line_service.py: f"deal.payment.{kind}.created" and friends.
    "kind": get_args(LineKind),
    "action": get_args(Action),
    # calculations/service.py: f"deal.calculation.status.{target.value}", target being a status one can move to.
    "target.value": tuple(sorted({status.value for targets in TRANSITIONS.values() for status in targets})),
}

# String literals in crm/domain that look like routing keys but are not: the event keys of notifications that
# occasions ask for (crm.domain.occasions), which name templates, not events on crm.events.
# So are the default event key of an automation rule's notification, and the dotted names of fields its problems name.
NOT_ROUTING_KEYS: frozenset[str] = frozenset(
    {
        "payment.due",
        "payment.overdue",
        "policy.renewal",
        "automation.rule.fired",
        "trigger.stage_id",
        "conditions.pipeline_id",
        "action.stage",
    }
)


def _expand(template: list[str | ast.expr], where: str) -> Iterator[str]:
    placeholders = [ast.unparse(part) for part in template if not isinstance(part, str)]
    unknown = [name for name in placeholders if name not in PLACEHOLDER_VALUES]
    assert not unknown, f"{where}: routing key built from {unknown}; add their values to PLACEHOLDER_VALUES"
    for values in itertools.product(*(PLACEHOLDER_VALUES[name] for name in placeholders)):
        chosen = iter(values)
        yield "".join(part if isinstance(part, str) else next(chosen) for part in template)


def _keys_in(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    fstrings = [node for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)]
    # The literal pieces of an f-string are judged with their f-string, not alone.
    pieces = {id(value) for node in fstrings for value in node.values}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in pieces
            and ROUTING_KEY.fullmatch(node.value)
            and node.value not in NOT_ROUTING_KEYS
        ):
            yield node.value
    for node in fstrings:
        template: list[str | ast.expr] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                template.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                template.append(value.value)
        literal = "".join(part for part in template if isinstance(part, str))
        # Dotted lowercase words around the placeholders: a routing key in the making.
        if "." in literal and KEY_TEXT.fullmatch(literal):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for key in _expand(template, where):
                assert ROUTING_KEY.fullmatch(key), f"{where}: {key!r} is not a routing key"
                yield key


def emitted_routing_keys() -> set[str]:
    return {key for path in sorted(DOMAIN.rglob("*.py")) for key in _keys_in(path)}


def doc_sections() -> dict[str, str]:
    """``### <title>`` sections of the page (outside code blocks), each with its text up to the next heading."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            if line.startswith("### "):
                title = line.removeprefix("### ").strip()
                assert title not in sections, f"section {title!r} appears twice"
                current = sections[title] = []
                continue
            current = None
        if current is not None:
            current.append(line)
    return {title: "\n".join(lines) for title, lines in sections.items()}


def json_examples(section: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"^```json\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)]


def test_routing_keys_are_found_in_literals_and_in_f_strings():
    keys = emitted_routing_keys()

    assert {"deal.created", "deal.payment.updated", "permissions.sync.requested", "task.reminder"} <= keys
    assert {
        f"deal.payment.{kind}.{action}" for kind in ("income", "expense") for action in ("created", "deleted")
    } <= keys
    assert {f"deal.calculation.status.{status}" for status in ("ready", "confirmed", "archived")} <= keys
    assert "deal.calculation.status.draft" not in keys  # nothing moves a calculation back to draft


def test_every_routing_key_the_code_emits_has_a_section():
    sections = doc_sections()

    undocumented = sorted(emitted_routing_keys() - sections.keys())

    assert not undocumented, f"docs/events.md has no `### <key>` section for {undocumented}"


def test_each_section_example_is_a_cloudevent_of_its_routing_key():
    for key, section in doc_sections().items():
        examples = json_examples(section)
        assert examples, f"section {key!r} has no ```json example"
        for example in examples:
            assert example["type"] == f"crm.{key}", key
            assert example["specversion"] == "1.0", key
            assert example["datacontenttype"] == "application/json", key
            assert {"id", "source", "subject", "time", "data"} <= example.keys(), key


def test_every_documented_section_is_a_routing_key_the_code_emits():
    unknown = sorted(doc_sections().keys() - emitted_routing_keys())

    assert not unknown, f"docs/events.md documents keys the code does not emit: {unknown}"


def test_the_routing_key_table_lists_exactly_the_keys_the_code_emits():
    page = DOC.read_text(encoding="utf-8")
    table = page.split("\n## Routing keys\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))

    assert listed == emitted_routing_keys()
