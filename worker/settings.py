"""One settings object. Precedence: explicit arguments > environment (PROTECT_*) > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # auto: JSON when stderr is not a terminal (production), readable lines on a terminal.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
