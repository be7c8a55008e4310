"""Human-readable validation errors that name the offending field."""

from __future__ import annotations

from pydantic import ValidationError


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
