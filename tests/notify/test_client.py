"""The webhook client's start-up checks: configuration mistakes stop the notifier at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigurationError
from worker.notify.client import WebhookClient
from worker.notify.signing import generate_secret
from worker.settings import Settings


def test_every_configured_secret_is_resolved_and_checked_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good"
    good.write_text(generate_secret())
    monkeypatch.setenv("PROTECT_TEST_GOOD_SECRET", generate_secret())
    WebhookClient(
        Settings(
            webhook_secrets={"https://a.example/": f"file:{good}"},
            webhook_default_secret="env:PROTECT_TEST_GOOD_SECRET",
        )
    )


@pytest.mark.parametrize(
    ("secrets", "default", "message"),
    [
        (
            {"https://hooks.example/": "env:PROTECT_TEST_UNSET_SECRET"},
            None,
            r"PROTECT_WEBHOOK_SECRETS\['https://hooks.example/'\]: secret reference "
            r"env:PROTECT_TEST_UNSET_SECRET: environment variable .* is not set",
        ),
        ({}, "env:PROTECT_TEST_SHORT_SECRET", r"PROTECT_WEBHOOK_DEFAULT_SECRET: .*at least 24"),
        ({}, "env:PROTECT_TEST_NOT_BASE64", r"PROTECT_WEBHOOK_DEFAULT_SECRET: .*base64"),
        ({}, "whsec_plainvalue", r"PROTECT_WEBHOOK_DEFAULT_SECRET: a secret reference must be"),
    ],
)
def test_a_bad_secret_is_refused_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str], default: str | None, message: str
) -> None:
    monkeypatch.delenv("PROTECT_TEST_UNSET_SECRET", raising=False)
    monkeypatch.setenv("PROTECT_TEST_SHORT_SECRET", "whsec_c2hvcnQ=")  # "short": 5 bytes
    monkeypatch.setenv("PROTECT_TEST_NOT_BASE64", "whsec_***not base64***")
    with pytest.raises(ConfigurationError, match=message) as info:
        WebhookClient(Settings(webhook_secrets=secrets, webhook_default_secret=default))
    assert "c2hvcnQ" not in str(info.value)  # never the value
    assert "***" not in str(info.value)
