"""Settings from the environment: an invalid value names the variable the operator set."""

from __future__ import annotations

import pytest

from worker.errors import ConfigurationError
from worker.settings import load_settings


def test_an_invalid_value_names_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROTECT_PROCESSES", "0")
    with pytest.raises(
        ConfigurationError, match=r"PROTECT_PROCESSES: .*greater than or equal to 1"
    ):
        load_settings()


def test_a_nested_error_names_the_variable_and_the_path_inside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROTECT_BINDINGS", '[{"results": "out"}]')
    with pytest.raises(ConfigurationError, match=r"PROTECT_BINDINGS\[0\]\.input: Field required"):
        load_settings()


def test_a_valid_value_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROTECT_PROCESSES", "2")
    assert load_settings().processes == 2


@pytest.mark.parametrize(
    ("variable", "given", "field", "read"),
    [
        ("PROTECT_LOG_LEVEL", "INFO", "log_level", "info"),
        ("PROTECT_LOG_FORMAT", " Json ", "log_format", "json"),
        ("PROTECT_DELIVERY", "Exactly_Once", "delivery", "exactly_once"),
        ("PROTECT_API_REGISTRY", "KAFKA", "api_registry", "kafka"),
    ],
)
def test_enum_like_values_are_accepted_in_any_case(
    monkeypatch: pytest.MonkeyPatch, variable: str, given: str, field: str, read: str
) -> None:
    monkeypatch.setenv(variable, given)
    assert getattr(load_settings(), field) == read


def test_an_unknown_word_is_still_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROTECT_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigurationError, match=r"PROTECT_LOG_LEVEL: Input should be 'debug'"):
        load_settings()
