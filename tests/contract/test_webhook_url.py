"""Subscription URLs are judged by the HTTP client's own parser wherever they enter."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tests.factories import central, ruleset
from worker.contract import Stage, StageDefinition, Subscription
from worker.contract.validation import describe
from worker.contract.webhook_url import InvalidWebhookUrl, parse_webhook_url
from worker.errors import StageDefinitionError
from worker.settings import TopicBinding
from worker.stages.files import load_stages_file
from worker.stream.codec import DeadLetter, DeadLetterReason, decode_request

# Each matches the Subscription pattern (`^https?://\S+$`) and each makes httpx.URL raise
# InvalidURL (checked by the first test): before, they passed validation and stopped the notifier.
UNPARSABLE = [
    "http://127.000.000.001/",  # leading zeros: not an IPv4 address
    "http://host:port/",
    "http://256.0.0.1/",
    "http://☃.example/",  # not valid IDNA
    "http://[::1/",
]
# httpx parses these, but no request can be sent to them.
UNSENDABLE = ["http:///path", "http://h.example:0/", "http://h.example:99999/"]
GOOD = [
    "https://hooks.example.com/a?b=1",
    "HTTP://H.EXAMPLE/x",
    "http://127.0.0.1:8080/hook",
    "http://[::1]:8080/hook",
    "http://bücher.example/hook",  # valid IDNA
    "https://user:pw@h.example/",
]


def subscribed(url: str) -> dict[str, object]:
    return ruleset(
        ("input_pii", "contains", "ssn"),
        action={"type": "PASSTHROUGH", "subscriptions": [{"url": url}]},
    )


@pytest.mark.parametrize("url", UNPARSABLE)
def test_the_client_refuses_what_the_pattern_admits(url: str) -> None:
    with pytest.raises(httpx.InvalidURL):
        httpx.URL(url)
    with pytest.raises(InvalidWebhookUrl, match="not a URL the HTTP client accepts"):
        parse_webhook_url(url)


@pytest.mark.parametrize("url", UNPARSABLE + UNSENDABLE)
def test_a_subscription_refuses_it_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        Subscription(url=url)
    (line,) = describe(info.value).splitlines()
    assert line.startswith("url: ")


@pytest.mark.parametrize("url", GOOD)
def test_sendable_urls_are_kept_as_written(url: str) -> None:
    assert Subscription(url=url).url == url
    assert parse_webhook_url(url).scheme in ("http", "https")


@pytest.mark.parametrize("url", UNPARSABLE)
def test_an_event_with_such_a_local_ruleset_is_a_schema_violation(url: str) -> None:
    event = {"payload": {"input": "hi"}, "stage_name": "s", "rulesets": [subscribed(url)]}
    decoded = decode_request(
        json.dumps(event).encode(), TopicBinding(input="i", results="r"), 1 << 20, "p"
    )
    assert isinstance(decoded, DeadLetter)
    assert decoded.reason is DeadLetterReason.SCHEMA
    assert decoded.detail.startswith("rulesets[0].action.subscriptions[0].url: ")  # as sent


@pytest.mark.parametrize("url", UNPARSABLE)
def test_a_stages_file_with_such_a_subscription_is_refused_naming_the_field(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"stages": [central("g", subscribed(url))]}))
    with pytest.raises(StageDefinitionError) as info:
        load_stages_file(path)
    assert "stages[0].prioritized_rulesets[0].action.subscriptions[0].url: " in str(info.value)


@pytest.mark.parametrize("url", UNPARSABLE)
def test_registry_records_and_definitions_refuse_it(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        StageDefinition.model_validate(central("g", subscribed(url)))
    assert "prioritized_rulesets[0].action.subscriptions[0].url" in describe(info.value)
    # A registry record (what a worker reads back from the stages topic) validates the same way.
    record = {
        "id": str(uuid.uuid4()),
        "name": "g",
        "project_id": str(uuid.uuid4()),
        "prioritized_rulesets": [subscribed(url)],
    }
    with pytest.raises(ValidationError) as info:
        Stage.model_validate_json(json.dumps(record))
    assert "prioritized_rulesets[0].action.subscriptions[0].url" in describe(info.value)
