"""Galileo-style in-process API: `invoke_protect` / `ainvoke_protect`."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from worker.contract.foreign import as_document
from worker.contract.payload import Payload
from worker.contract.request import DEFAULT_TIMEOUT_S, Request
from worker.contract.response import Response
from worker.contract.rules import Ruleset
from worker.errors import ConfigurationError
from worker.runtime import Protect
from worker.settings import Settings

_lock = threading.Lock()
_default: Protect | None = None


def configure(
    stages_file: str | Path | None = None,
    *,
    seed: int | None = None,
    registry: Literal["memory", "kafka"] | None = None,
    bootstrap_servers: str | None = None,
) -> Protect:
    """Load the stages the API invokes (replacing any loaded before) and return the service.

    `registry="kafka"` (or PROTECT_API_REGISTRY=kafka; implied by `bootstrap_servers`): the
    stages are the Kafka registry topic's, on `bootstrap_servers` or KAFKA_BOOTSTRAP_SERVERS,
    read to its end before this returns and followed live; the file gives custom metrics and
    backends only. Default `memory`: the file's stages, in this process.
    """
    global _default
    protect = _build(stages_file, seed=seed, registry=registry, bootstrap_servers=bootstrap_servers)
    with _lock:
        previous, _default = _default, protect
    if previous is not None:
        previous.close()
    return protect


def default_protect() -> Protect:
    """The service the API uses; built on first use from PROTECT_STAGES_FILE if set."""
    global _default
    with _lock:
        if _default is None:
            settings = Settings()
            _default = _build(settings.stages_file, seed=settings.seed)
        return _default


def _build(
    stages_file: str | Path | None,
    *,
    seed: int | None,
    registry: Literal["memory", "kafka"] | None = None,
    bootstrap_servers: str | None = None,
) -> Protect:
    settings = Settings()
    if registry is None:
        registry = "kafka" if bootstrap_servers else settings.api_registry
    if registry == "memory":
        return Protect.from_file(stages_file, seed=seed, cpu_threads=settings.cpu_threads)
    bootstrap = bootstrap_servers or settings.kafka_bootstrap_servers
    if not bootstrap:
        raise ConfigurationError(
            "registry 'kafka' needs a cluster: pass bootstrap_servers or set "
            "KAFKA_BOOTSTRAP_SERVERS"
        )
    return Protect.from_registry_topic(
        stages_file,
        bootstrap,
        settings.stages_topic,
        seed=seed,
        cpu_threads=settings.cpu_threads,
        replication=settings.topic_replication,
    )


def build_request(
    payload: Payload | Mapping[str, Any] | BaseModel,
    prioritized_rulesets: Sequence[Ruleset | Mapping[str, Any] | BaseModel] | None = None,
    project_id: uuid.UUID | str | None = None,
    project_name: str | None = None,
    stage_id: uuid.UUID | str | None = None,
    stage_name: str | None = None,
    stage_version: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    metadata: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    protect: Protect | None = None,
) -> Request:
    """A validated Request; a stage named without a project is looked up across projects.

    `payload` and `prioritized_rulesets` may be other libraries' models of the same records, such
    as galileo-core's Payload and Ruleset (with its Rule, OverrideAction, SubscriptionConfig...):
    a Galileo user changes only the import line.
    """
    if stage_id is None and project_id is None and project_name is None and stage_name:
        holders = (protect or default_protect()).stages.projects_with(stage_name)
        project_name = holders[0] if len(holders) == 1 else Settings().project
    return Request.model_validate(
        {
            "payload": as_document(payload),
            "prioritized_rulesets": as_document(prioritized_rulesets),
            "project_id": project_id,
            "project_name": project_name,
            "stage_id": stage_id,
            "stage_name": stage_name,
            "stage_version": stage_version,
            "timeout": timeout,
            "metadata": metadata,
            "headers": headers,
        }
    )


async def ainvoke_protect(
    payload: Payload | Mapping[str, Any] | BaseModel,
    prioritized_rulesets: Sequence[Ruleset | Mapping[str, Any] | BaseModel] | None = None,
    project_id: uuid.UUID | str | None = None,
    project_name: str | None = None,
    stage_id: uuid.UUID | str | None = None,
    stage_name: str | None = None,
    stage_version: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    metadata: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Evaluate a payload against a stage and return the Response."""
    protect = default_protect()
    request = build_request(
        payload,
        prioritized_rulesets,
        project_id,
        project_name,
        stage_id,
        stage_name,
        stage_version,
        timeout,
        metadata,
        headers,
        protect=protect,
    )
    return await protect.ainvoke(request)


def invoke_protect(
    payload: Payload | Mapping[str, Any] | BaseModel,
    prioritized_rulesets: Sequence[Ruleset | Mapping[str, Any] | BaseModel] | None = None,
    project_id: uuid.UUID | str | None = None,
    project_name: str | None = None,
    stage_id: uuid.UUID | str | None = None,
    stage_name: str | None = None,
    stage_version: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    metadata: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Synchronous `ainvoke_protect`; call `ainvoke_protect` from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("invoke_protect() called inside an event loop; await ainvoke_protect()")
    return asyncio.run(
        ainvoke_protect(
            payload,
            prioritized_rulesets,
            project_id,
            project_name,
            stage_id,
            stage_name,
            stage_version,
            timeout,
            metadata,
            headers,
        )
    )
