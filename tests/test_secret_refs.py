"""Secret references (`env:NAME`, `file:/path`): resolved, and never echoed when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigurationError
from worker.notify.signing import generate_secret
from worker.secret_refs import resolve_secret


@pytest.fixture
def secret() -> str:
    return generate_secret()


def test_env_reference(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("PROTECT_TEST_WEBHOOK_SECRET", f"  {secret}\n")
    assert resolve_secret("env:PROTECT_TEST_WEBHOOK_SECRET") == secret


def test_file_reference(tmp_path: Path, secret: str) -> None:
    path = tmp_path / "webhook.secret"
    path.write_text(secret + "\n")
    assert resolve_secret(f"file:{path}") == secret


@pytest.mark.parametrize(
    ("ref", "names"),
    [
        ("env:PROTECT_TEST_UNSET_VARIABLE", "PROTECT_TEST_UNSET_VARIABLE"),
        ("env:", "env:"),
        ("file:/nonexistent/webhook.secret", "/nonexistent/webhook.secret"),
        ("file:", "file:"),
        ("vault:secret/webhooks", "'vault'"),
    ],
)
def test_unresolvable_references_name_the_reference(ref: str, names: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_secret(ref)
    assert names in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_literal_secret_given_as_a_reference_is_not_echoed(secret: str) -> None:
    for ref in (secret, secret.removeprefix("whsec_"), "p4ss:w0rd/with a colon inside"):
        with pytest.raises(ConfigurationError) as caught:
            resolve_secret(ref)
        assert ref not in str(caught.value)
        assert "w0rd" not in str(caught.value)


def test_empty_secrets_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROTECT_TEST_EMPTY_SECRET", "  ")
    (tmp_path / "empty").write_text("\n")
    for ref in ("env:PROTECT_TEST_EMPTY_SECRET", f"file:{tmp_path / 'empty'}"):
        with pytest.raises(ConfigurationError, match="empty"):
            resolve_secret(ref)


def test_an_unreadable_file_does_not_leak_its_content(tmp_path: Path) -> None:
    path = tmp_path / "binary.secret"
    path.write_bytes(b"\xffsecret-bytes\xfe")
    with pytest.raises(ConfigurationError) as caught:
        resolve_secret(f"file:{path}")
    assert "secret-bytes" not in str(caught.value)
    assert "UnicodeDecodeError" in str(caught.value)
