"""Optimistic concurrency and partial updates, the same for every module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from crm.domain.errors import FieldProblem, PreconditionFailed, RuleViolation


def check_version(current: int, expected: int | None) -> None:
    """``expected`` comes from ``If-Match``; ``None`` means the caller did not ask for a check."""
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"The record is at version {current}, not {expected}; reload it and try again.",
            current_version=current,
        )


def requested_changes(patch: BaseModel, not_nullable: Iterable[str]) -> dict[str, Any]:
    """The fields a PATCH body names, refusing ``null`` for the ones that cannot be cleared."""
    changes = patch.model_dump(exclude_unset=True)
    nulls = [name for name in not_nullable if name in changes and changes[name] is None]
    if nulls:
        raise RuleViolation(
            "Some fields cannot be cleared.",
            errors=[FieldProblem(name, "may be changed but not set to null") for name in sorted(nulls)],
        )
    return changes


def effective_changes(current: BaseModel, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Only the changes that differ from the stored values; an empty dict means nothing to do."""
    return {name: value for name, value in changes.items() if getattr(current, name) != value}


class PatchBody(BaseModel):
    """A PATCH body: every field optional (absent = unchanged); ``null`` clears a field, except the fields in
    ``NOT_NULLABLE``, which may be changed but never cleared.

    Those fields are typed ``X | None`` only so that absence can be told from a value; their JSON Schema drops
    the ``null`` so the document does not offer what ``requested_changes`` refuses.
    """

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = super().__get_pydantic_json_schema__(core_schema, handler)
        properties = handler.resolve_ref_schema(json_schema).get("properties", {})
        for name in cls.NOT_NULLABLE:
            field = cls.model_fields[name]
            key = field.alias or name
            if key in properties:
                properties[key] = _without_null(properties[key])
        return json_schema


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [X, {"type": "null"}], "default": null, ...}`` as ``X`` with the other keys kept."""
    choices = [c for c in schema.get("anyOf", []) if c != {"type": "null"}]
    if "anyOf" not in schema or len(choices) == len(schema["anyOf"]):
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if len(choices) == 1:
        return {**choices[0], **rest}
    return {"anyOf": choices, **rest}
