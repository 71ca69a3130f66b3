"""Notification text from a template body and the notification's payload, through Jinja2's sandbox.

A body is compiled when a template is written (a body that does not compile is refused then, naming ``body``),
and rendered when a notification is recorded. Rendering never raises: a body that fails on this payload, or
that runs away (huge loops, huge strings), gives way to a plain summary of the event key and payload, so a
notification is always recorded with a text.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from crm.domain.errors import FieldProblem, RuleViolation

# Telegram takes at most 4096 characters a message; a text past this is cut there.
MAX_TEXT = 4096
# A render producing more than this (before cutting) or taking longer is a runaway.
MAX_RENDERED = 64 * 1024
MAX_RENDER_SECONDS = 0.5
MAX_RANGE = 10_000
MAX_REPEAT = MAX_RENDERED
SUMMARY_VALUE = 200


# A width, count or padding a body asks for ("x".ljust(n), "x"|center(n), "%*s", "{:>n}") past this is refused
# before anything is allocated: checking the size afterwards would be too late for a gigabyte.
_WIDE_FIELD = re.compile(r"[%:][^%{}]*?\d{6,}|%[^%]*?\*")


def _small(*values: Any) -> None:
    """``SecurityError`` when a value would make a body allocate more than a rendered text may hold."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RENDERED:
            raise SecurityError("argument too large")
        if isinstance(value, str) and _WIDE_FIELD.search(value):
            raise SecurityError("format field too wide")


class _RenderBudget(SandboxedEnvironment):
    """The sandbox with bounds on what a body may make: ``range``, ``*``/``**``/``%``, and the numbers any call or
    filter is given stay small."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _small(*args, *kwargs.values())
        if getattr(__obj, "__name__", None) in ("format", "format_map"):  # str.format, as the sandbox wraps it
            _small(getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None))
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            _small(left, right)
            return left % right
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
            return left**right
        for sequence, count in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and len(sequence) * count > MAX_REPEAT
            ):
                raise SecurityError("repetition too large")
        return left * right


def _range(*args: int) -> range:
    bounded = range(*args)
    if len(bounded) > MAX_RANGE:
        raise SecurityError(f"range longer than {MAX_RANGE}")
    return bounded


def _environment() -> SandboxedEnvironment:
    # Plain text for Telegram and the stream: nothing is HTML-escaped.
    environment = _RenderBudget(autoescape=False, keep_trailing_newline=False)
    environment.globals["range"] = _range
    # Filters are called directly by compiled templates, not through the sandbox's ``call``: each is bounded here.
    environment.filters = {name: _bounded_filter(f) for name, f in environment.filters.items()}
    return environment


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _small(*args[1:], *kwargs.values())
        if function.__name__ == "do_format":
            _small(args[0] if args else None)
        return function(*args, **kwargs)

    return bounded


# Compiling a body costs milliseconds, rendering it microseconds: the bodies in use are kept compiled.
COMPILED_BODIES = 512


class TemplateRenderer:
    """Compiles and renders template bodies; one per process, keeping the last bodies it compiled."""

    def __init__(self) -> None:
        self._environment = _environment()
        self._compiled = functools.lru_cache(maxsize=COMPILED_BODIES)(self._environment.from_string)

    def check(self, body: str) -> None:
        """``RuleViolation`` naming ``body`` if it does not compile."""
        try:
            self._environment.parse(body)
        except TemplateSyntaxError as exc:
            raise RuleViolation(
                f"The template body does not compile: {exc.message} (line {exc.lineno}).",
                errors=[FieldProblem("body", f"line {exc.lineno}: {exc.message}")],
            ) from exc
        except RecursionError as exc:
            raise RuleViolation(
                "The template body does not compile: it is nested too deeply.",
                errors=[FieldProblem("body", "nested too deeply")],
            ) from exc

    def render(self, body: str, payload: Mapping[str, Any]) -> str | None:
        """The text, or None when the body fails or runs away on this payload."""
        try:
            template = self._compiled(body)
            return _bounded(template.generate(**payload))
        except Exception:  # whatever a body does on a payload, the notification gets the summary: never an error
            return None


class _Runaway(Exception):
    pass


def _bounded(chunks: Iterator[str]) -> str:
    started = time.monotonic()
    size = 0
    parts = []
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDERED or time.monotonic() - started > MAX_RENDER_SECONDS:
            raise _Runaway
        parts.append(chunk)
    return cut("".join(parts).strip())


def cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def summary(event_key: str, payload: Mapping[str, Any], at: datetime) -> str:
    """What a notification says without a template: its event key and when (``at``, in the zone it is given in),
    then its payload, one field a line."""
    lines = [f"{event_key} · {at:%Y-%m-%d %H:%M %Z}"]
    for name, value in payload.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        if len(shown) > SUMMARY_VALUE:
            shown = shown[: SUMMARY_VALUE - 1] + "…"
        lines.append(f"{name}: {shown}")
    return cut("\n".join(lines))
