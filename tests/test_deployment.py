"""The deployment files: no Docker engine runs here, so check their structure and commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worker.cli.main import build_parser
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_has_kafka_registry_and_worker() -> None:
    services = compose()["services"]
    assert {"kafka", "stages", "worker", "notifier"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name in ("stages", "worker", "notifier"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_commands_parse_with_the_cli() -> None:
    parser = build_parser()
    for name in ("stages", "worker", "notifier"):
        args = parser.parse_args(compose()["services"][name]["command"])
        assert callable(args.run)


def test_compose_environment_is_valid_settings(monkeypatch: Any) -> None:
    env = compose()["services"]["worker"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.moderation_topic == "protect.moderation"


def test_dockerfile_installs_the_package_and_runs_protect() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    assert 'ENTRYPOINT ["protect"]' in dockerfile
