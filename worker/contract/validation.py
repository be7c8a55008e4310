"""Validation errors as text: for people who wrote the input, and for dead letters.

`describe` is for definitions and requests the reader wrote (stage files, `protect invoke`):
it names their fields and quotes pydantic's messages. `describe_untrusted` is for records from
anyone (a dead letter's detail header): it keeps the field path and the kind of problem, but
nothing the sender chose, since a header can end up in logs, dashboards and other tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic_core.core_schema import ErrorType

# pydantic's built-in error types. Any other type was raised by our own validators
# (PydanticCustomError, a Discriminator's custom error) with a message we wrote.
_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))
# Context values of built-in errors that come from the schema (bounds, allowed values), never
# from the input; other context (e.g. uuid_parsing's `error`: "found `x`") may quote the input.
_SCHEMA_CONTEXT = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "expected")
# Stands for a key the sender chose (an unknown field, a metadata key).
KEY_PLACEHOLDER = "<key>"
# A record can carry thousands of errors (a list of wrong items); a few locate the problem.
MAX_UNTRUSTED_ERRORS = 5


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('stages', 0, 'prioritized_rulesets', 1, 'rules', 0, 'operator')` ->
    `stages[0].prioritized_rulesets[1].rules[0].operator`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("function-") or part in {"OVERRIDE", "PASSTHROUGH"}:
            # pydantic inserts validator and union-tag names into locations; readers want fields.
            continue
        else:
            path += f".{part}" if path else part
    return path or "(root)"


def describe(exc: ValidationError, *, prefix: str = "") -> str:
    """One line per error: `field.path: message`."""
    lines = []
    for error in exc.errors(include_url=False):
        path = field_path(tuple(error["loc"]))
        if prefix:
            path = prefix if path == "(root)" else f"{prefix}.{path}"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "\n".join(lines)


def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name and validation alias of `model` and of the models inside it."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                names.add(name)
                alias = info.validation_alias
                if isinstance(alias, str):
                    names.add(alias)
                elif isinstance(alias, AliasChoices):
                    names.update(c for c in alias.choices if isinstance(c, str))
                visit(info.annotation)
        for argument in get_args(annotation):
            visit(argument)

    visit(model)
    return frozenset(names)


def describe_untrusted(exc: ValidationError, document: object, known: frozenset[str]) -> str:
    """One line per field (at most MAX_UNTRUSTED_ERRORS): `field.path: error_type (detail)`.

    Nothing the sender chose: a path step is one of our field names (`known`), a list index or
    KEY_PLACEHOLDER; the problem is pydantic's error type with the schema's bounds, or the fixed
    message of one of our validators. `document` is the validated input, to tell the sender's
    keys from the labels pydantic adds to locations (union members, validators, tags).
    """
    problems: dict[str, list[str]] = {}  # path -> problems; a union's members share a path
    for error in exc.errors(include_url=False):
        path = _untrusted_path(error["loc"], document, known)
        problems.setdefault(path, []).append(_untrusted_problem(error))
    lines = [f"{path}: {' | '.join(kinds)}" for path, kinds in problems.items()]
    if len(lines) > MAX_UNTRUSTED_ERRORS:
        more = len(lines) - MAX_UNTRUSTED_ERRORS
        lines = [*lines[:MAX_UNTRUSTED_ERRORS], f"(and {more} more fields)"]
    return "\n".join(lines)


def _untrusted_path(loc: Sequence[int | str], document: object, known: frozenset[str]) -> str:
    path = ""
    node = document
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            path += f"[{part}]"
            node = node[part]
            continue
        if isinstance(node, Mapping) and part in node:
            name = part if part in known else KEY_PLACEHOLDER
            path += f".{name}" if path else name
            node = node[part]
            continue
        if isinstance(part, str) and part in known:
            # A field the input lacks (`missing`): our name, and nothing below it to walk.
            path += f".{part}" if path else part
            node = None
        # Otherwise a label pydantic added (union member, validator, tag): not a field.
    return path or "(root)"


def _untrusted_problem(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    context = error.get("ctx") or {}
    if kind not in _PYDANTIC_ERROR_TYPES:
        # Our own validators' errors. A message template with no context quotes nothing.
        return f"{kind} ({error['msg']})" if not context else kind
    bounds = [f"{key}={context[key]}" for key in _SCHEMA_CONTEXT if key in context]
    return f"{kind} ({', '.join(bounds)})" if bounds else kind
