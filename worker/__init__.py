"""protect-worker: runtime protection for LLM applications (Galileo Protect's contract).

The public surface is this module's `__all__`: the in-process API (invocation, and Galileo's
project and stage functions from worker.management) and the wire models.

Names are imported on first use (PEP 562): `import worker` alone, or a webhook receiver's
`from worker.notify.signing import verify`, must not load the engine, the detectors and their
models (about a second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.api import ainvoke_protect, configure, invoke_protect
    from worker.contract import (
        ActionResult,
        ActionType,
        ExecutionStatus,
        MetricComputation,
        OverrideAction,
        PassthroughAction,
        Payload,
        Project,
        Request,
        Response,
        Rule,
        RuleOperator,
        RuleResult,
        Ruleset,
        RulesetResult,
        Stage,
        StageDefinition,
        StageMetadata,
        StageResponse,
        StageType,
        Subscription,
        TraceMetadata,
    )
    from worker.management import (
        acreate_project,
        acreate_stage,
        aget_project,
        aget_projects,
        aget_stage,
        apause_stage,
        aresume_stage,
        aupdate_stage,
        create_project,
        create_protect_stage,
        create_stage,
        get_project,
        get_projects,
        get_protect_stage,
        get_stage,
        pause_protect_stage,
        pause_stage,
        resume_protect_stage,
        resume_stage,
        update_protect_stage,
        update_stage,
    )
    from worker.runtime import Protect

_HOME: dict[str, str] = {
    "ActionResult": "worker.contract",
    "ActionType": "worker.contract",
    "ExecutionStatus": "worker.contract",
    "MetricComputation": "worker.contract",
    "OverrideAction": "worker.contract",
    "PassthroughAction": "worker.contract",
    "Payload": "worker.contract",
    "Project": "worker.contract",
    "Protect": "worker.runtime",
    "Request": "worker.contract",
    "Response": "worker.contract",
    "Rule": "worker.contract",
    "RuleOperator": "worker.contract",
    "RuleResult": "worker.contract",
    "Ruleset": "worker.contract",
    "RulesetResult": "worker.contract",
    "Stage": "worker.contract",
    "StageDefinition": "worker.contract",
    "StageMetadata": "worker.contract",
    "StageResponse": "worker.contract",
    "StageType": "worker.contract",
    "Subscription": "worker.contract",
    "TraceMetadata": "worker.contract",
    "acreate_project": "worker.management",
    "acreate_stage": "worker.management",
    "aget_project": "worker.management",
    "aget_projects": "worker.management",
    "aget_stage": "worker.management",
    "ainvoke_protect": "worker.api",
    "apause_stage": "worker.management",
    "aresume_stage": "worker.management",
    "aupdate_stage": "worker.management",
    "configure": "worker.api",
    "create_project": "worker.management",
    "create_protect_stage": "worker.management",
    "create_stage": "worker.management",
    "get_project": "worker.management",
    "get_projects": "worker.management",
    "get_protect_stage": "worker.management",
    "get_stage": "worker.management",
    "invoke_protect": "worker.api",
    "pause_protect_stage": "worker.management",
    "pause_stage": "worker.management",
    "resume_protect_stage": "worker.management",
    "resume_stage": "worker.management",
    "update_protect_stage": "worker.management",
    "update_stage": "worker.management",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "ActionResult",
    "ActionType",
    "ExecutionStatus",
    "MetricComputation",
    "OverrideAction",
    "PassthroughAction",
    "Payload",
    "Project",
    "Protect",
    "Request",
    "Response",
    "Rule",
    "RuleOperator",
    "RuleResult",
    "Ruleset",
    "RulesetResult",
    "Stage",
    "StageDefinition",
    "StageMetadata",
    "StageResponse",
    "StageType",
    "Subscription",
    "TraceMetadata",
    "acreate_project",
    "acreate_stage",
    "aget_project",
    "aget_projects",
    "aget_stage",
    "ainvoke_protect",
    "apause_stage",
    "aresume_stage",
    "aupdate_stage",
    "configure",
    "create_project",
    "create_protect_stage",
    "create_stage",
    "get_project",
    "get_projects",
    "get_protect_stage",
    "get_stage",
    "invoke_protect",
    "pause_protect_stage",
    "pause_stage",
    "resume_protect_stage",
    "resume_stage",
    "update_protect_stage",
    "update_stage",
]
