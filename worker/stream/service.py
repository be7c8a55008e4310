"""The worker's Protect on Kafka: custom metrics from a file, stages from the registry topic.

Stages come from the compacted registry topic, read to its end before any event is consumed and
followed live afterwards, so a pause or a new version reaches every running worker. A stages file
contributes its custom metric declarations and metric backends (a worker must have the scorers
its stages name) and,
only when asked (`apply_stages`: the demo, or an embedded broker nobody else can write to), its
stage definitions, published through the registry like `protect stages apply`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog

from worker.metrics.registry import MetricRegistry
from worker.runtime import Protect
from worker.settings import Settings
from worker.stages.files import StagesFile
from worker.stages.kafka import StageAdmin, StageFollower, stage_topic_spec
from worker.stream.topics import ensure_topics

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def registry_backed_protect(
    document: StagesFile,
    settings: Settings,
    bootstrap_servers: str,
    *,
    apply_stages: bool,
) -> AsyncIterator[Protect]:
    protect = Protect.from_document(
        StagesFile(project=document.project, metrics=document.metrics, backends=document.backends),
        seed=settings.seed,
        cpu_threads=settings.cpu_threads,
    )
    topic = settings.stages_topic
    await ensure_topics(bootstrap_servers, [stage_topic_spec(topic, settings.topic_replication)])
    if apply_stages:
        await publish_file_stages(document, settings, bootstrap_servers, protect.evaluator.metrics)
    async with StageFollower(bootstrap_servers, topic, protect.stages) as follower:
        await follower.wait_caught_up()
        yield protect


async def publish_file_stages(
    document: StagesFile, settings: Settings, bootstrap_servers: str, metrics: MetricRegistry
) -> None:
    """Publish the file's stages to the registry topic, as `protect stages apply` does: for an
    embedded broker, whose registry only this process can write (once per broker: a supervisor
    publishes them before starting its workers)."""
    if not document.stages:
        return
    topic = settings.stages_topic
    await ensure_topics(bootstrap_servers, [stage_topic_spec(topic, settings.topic_replication)])
    default_project = document.project or settings.project
    async with StageAdmin(
        bootstrap_servers, topic, metrics, default_project=default_project
    ) as admin:
        for definition in document.stages:
            result = await admin.apply(definition, document.project)
            log.info(
                "stage_applied",
                stage=result.stage.name,
                version=result.stage.version,
                created=result.created,
            )
