"""Records built with other libraries' models (galileo-core's Payload, Ruleset, Stage, ...).

pydantic validates a model only from its own class or plain data, so a galileo-core `Ruleset`
handed to `invoke_protect` would be refused although it describes the same record. Such objects
are turned into the JSON document they stand for; our models validate that like any other input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

_OURS = "worker."


def as_document(value: Any) -> Any:
    """`value` with every foreign pydantic model (at any depth in lists, tuples and mappings)
    replaced by its JSON-mode dump; our own models and plain values are returned as they are."""
    if isinstance(value, BaseModel):
        if type(value).__module__.startswith(_OURS):
            return value
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [as_document(item) for item in value]
    if isinstance(value, Mapping):
        return {key: as_document(item) for key, item in value.items()}
    return value
