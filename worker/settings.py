"""One settings object. Precedence: explicit arguments > environment (PROTECT_*) > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.contract.validation import field_path
from worker.errors import ConfigurationError


class TopicBinding(BaseModel):
    """An input topic, the topic its Responses go to, and the stage its events default to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str
    results: str
    stage_name: str | None = None
    project_name: str | None = None


# One stage on user queries and one on the application's output, as the seeds recommend.
DEFAULT_BINDINGS = (
    TopicBinding(
        input="protect.prompts", results="protect.prompts.results", stage_name="input-guard"
    ),
    TopicBinding(
        input="protect.responses", results="protect.responses.results", stage_name="output-guard"
    ),
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROTECT_", extra="ignore")

    stages_file: Path | None = Field(
        default=None, description="Stages file loaded by the in-process API and the CLI."
    )
    project: str = Field(default="default", description="Project of stages named without one.")
    seed: int | None = Field(
        default=None, description="Seed for override choices (reproducible runs)."
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        # The Kafka ecosystem's conventional variable, also accepted with our prefix.
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "PROTECT_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; unset: start an embedded broker on loopback.",
    )
    stages_topic: str = Field(
        default="protect.stages",
        description="Compacted topic holding central stage versions and pause states.",
    )
    # Where the in-process API (invoke_protect, create_stage, ...) keeps its stages: `memory`
    # (the stages file, and what the management functions add, in this process only) or `kafka`
    # (the registry topic on KAFKA_BOOTSTRAP_SERVERS, shared with workers and `protect stages`).
    # Explicit rather than implied by KAFKA_BOOTSTRAP_SERVERS, which worker hosts set for other
    # reasons: an application must not start writing to the governance registry by accident.
    api_registry: Literal["memory", "kafka"] = Field(
        default="memory",
        description="Stages of the in-process API: memory (stages file) or kafka (registry topic).",
    )
    bindings: list[TopicBinding] = Field(
        default_factory=lambda: list(DEFAULT_BINDINGS),
        description="Input topics (JSON list of {input, results, stage_name, project_name}).",
    )
    group_id: str = "protect-worker"
    deadletter_topic: str = "protect.deadletter"
    moderation_topic: str | None = Field(
        default=None,
        description="Also route triggered Responses here, for human review queues "
        "(e.g. protect.moderation); unset: off.",
    )
    # at_least_once: commit offsets after results are acknowledged (duplicates possible after a
    # crash). exactly_once: results and input offsets in one Kafka transaction per input
    # partition; needs a broker with transactions, and readers with isolation read_committed.
    delivery: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # One Delivery record per matching subscription, for the notifier (`protect notify`).
    notifications_topic: str = "protect.notifications"
    # Kafka's own default message limit; larger records go to the dead-letter topic.
    max_record_bytes: int = Field(default=1024 * 1024, gt=0)
    topic_partitions: int = Field(default=6, ge=1, description="For topics created at start.")
    topic_replication: int = Field(default=1, ge=1, description="For topics created at start.")
    # Records evaluated together: large enough to amortise per-call scorer costs, small enough
    # that one fetch's results are produced well within the poll interval.
    max_batch: int = Field(default=500, ge=1)
    # Unacknowledged records before the consumer pauses fetching (backpressure).
    max_in_flight: int = Field(default=5000, ge=1)
    # Offsets are committed at most this often (and on revoke and shutdown).
    commit_interval_s: float = Field(default=1.0, gt=0)
    # How long the broker may hold a fetch while waiting for data. Real Kafka answers as soon as
    # a record arrives; some brokers (Tansu) hold the fetch this long regardless, which then
    # sets the floor of the end-to-end latency. Lower costs only idle fetch requests.
    fetch_max_wait_ms: int = Field(default=50, ge=1)
    # A worker that stops heart-beating (crashed, frozen) loses its partitions after this long.
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    # Budget for finishing in-flight work when partitions are revoked or on shutdown.
    drain_timeout_s: float = Field(default=10.0, gt=0)
    # Threads that run CPU-bound scorers (PII, the embedding heads, local model backends).
    # Unset: one per core, since more only queue for the same cores. Each ONNX session computes
    # single-threaded inside it (PROTECT_EMBEDDING_THREADS, a backend's `threads`).
    cpu_threads: int | None = Field(default=None, ge=1)
    # Processes of `protect run` / `protect notify`, each a member of the consumer group, under
    # one supervisor: one process computes Python on one core at a time. Unset: one per core
    # this process may run on; 1: a single process, no supervisor.
    processes: int | None = Field(default=None, ge=1)
    # -- the notifier -------------------------------------------------------------------------
    notify_group_id: str = "protect-notifier"
    # Pending retries live in Kafka (with their due time), so they survive a notifier crash.
    notify_retry_topic: str = "protect.notifications.retry"
    notify_dead_topic: str = "protect.notifications.dead"
    # Standard Webhooks guidance and Svix's practice.
    notify_attempt_timeout_s: float = Field(default=15.0, gt=0)
    notify_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Delays before each retry; after the last, the delivery is dead-lettered.",
    )
    notify_retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    # A receiver's Retry-After is honoured within these bounds (a hostile or buggy value can
    # neither hammer it nor park a delivery for ever).
    notify_retry_after_min_s: float = Field(default=1.0, ge=0)
    notify_retry_after_max_s: float = Field(default=36000.0, gt=0)
    # Isolation: attempts in flight per endpoint, and in all.
    notify_endpoint_concurrency: int = Field(default=4, ge=1)
    notify_max_concurrency: int = Field(default=256, ge=1)
    # Circuit breaker per endpoint: after this many consecutive failures, skip attempts (and
    # schedule retries) for the cool-down, then let one attempt probe the endpoint.
    notify_breaker_failures: int = Field(default=5, ge=1)
    notify_breaker_cooldown_s: float = Field(default=30.0, gt=0)
    # SSRF guard: resolved addresses in these networks are allowed although private/loopback.
    notify_allow_networks: list[str] = Field(default_factory=list)
    # Secrets by reference (`env:NAME` or `file:/path`), never by value: URL prefix -> ref;
    # the longest matching prefix wins, else the default.
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    webhook_default_secret: str | None = None
    # auto: JSON when stderr is not a terminal (production), readable lines on a terminal.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("api_registry", "delivery", "log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        # Operators write PROTECT_LOG_LEVEL=INFO or PROTECT_DELIVERY=Exactly_Once; refusing the
        # case of a word that has one meaning would only stop a deployment for nothing.
        return value.strip().lower() if isinstance(value, str) else value


ENV_PREFIX = "PROTECT_"


def load_settings() -> Settings:
    """Settings from the environment; an invalid value is a ConfigurationError naming its
    environment variable (what the operator set), not the field."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            name, *rest = error["loc"]
            variable = _variable(str(name))
            inner = field_path(tuple(rest)) if rest else ""
            path = variable + (inner if inner.startswith("[") or not inner else f".{inner}")
            lines.append(f"{path}: {error['msg']}")
        raise ConfigurationError("invalid settings\n" + "\n".join(lines)) from exc


def _variable(name: str) -> str:
    field = Settings.model_fields.get(name)
    if field is None:  # a validation alias: already a variable's name
        return name.upper()
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"{ENV_PREFIX}{name.upper()}"
