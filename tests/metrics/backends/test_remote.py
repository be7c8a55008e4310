"""The HTTP model-server client against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.metrics.backends.server import ModelServer, cue_distribution
from worker.errors import MetricConfigError, ScorerError
from worker.metrics.backends.remote import HttpClassifier, parse_predictions
from worker.metrics.backends.spec import BackendSpec, HttpBackend

SPEC: TypeAdapter[BackendSpec] = TypeAdapter(BackendSpec)
LABELS = ("neutral", "toxic")
CUES = {"toxic": ["idiot", "stupid"]}


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(LABELS, CUES, "neutral", slow_s=2.0) as running:
        yield running


def client(url: str, **fields: Any) -> HttpClassifier:
    spec = SPEC.validate_python({"type": "http", "url": url, **fields})
    assert isinstance(spec, HttpBackend)
    return HttpClassifier(spec, field="backends.m")


@pytest.mark.parametrize("path", ["/predict", "/predict-object"])
async def test_both_answer_shapes_give_the_servers_probabilities(
    server: ModelServer, path: str
) -> None:
    texts = ["you stupid idiot", "lovely weather today"]
    got = await client(server.url(path)).aclassify([(t,) for t in texts])
    for text, distribution in zip(texts, got, strict=True):
        assert distribution == pytest.approx(cue_distribution(text, LABELS, CUES, "neutral"))
    (_, _, body) = server.requests[0]
    assert body == {"inputs": texts, "raw_scores": False, "truncate": True}


async def test_batches_are_cut_and_bounded_in_flight() -> None:
    texts = [f"text number {i} idiot" if i % 3 == 0 else f"text number {i}" for i in range(7)]
    # Each answer takes a while, so the four batches would all be in flight at once unbounded:
    # the peak is the client's bound, reached and not exceeded.
    with ModelServer(LABELS, CUES, "neutral", slow_s=0.3) as server:
        slow = client(server.url("/slow"), batch_size=2, concurrency=2)
        got = await slow.aclassify([(t,) for t in texts])
    assert [d["toxic"] > 0.5 for d in got] == [i % 3 == 0 for i in range(7)]
    # The batches go out concurrently, so they may arrive in any order.
    assert sorted(len(body["inputs"]) for _, _, body in server.requests) == [1, 2, 2, 2]
    assert server.peak_in_flight == 2


async def test_pairs_are_sent_as_two_item_lists(server: ModelServer) -> None:
    await client(server.url()).aclassify([("the context", "the answer")])
    assert server.requests[0][2]["inputs"] == [["the context", "the answer"]]


async def test_header_values_are_secret_references(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROTECT_TEST_MODEL_TOKEN", "Bearer s3cret")
    await client(server.url(), headers={"authorization": "env:PROTECT_TEST_MODEL_TOKEN"}).aclassify(
        [("hi",)]
    )
    assert server.requests[0][1]["authorization"] == "Bearer s3cret"
    with pytest.raises(MetricConfigError, match=r"backends\.m\.headers\.authorization: "):
        client(server.url(), headers={"authorization": "Bearer s3cret"})


async def test_server_failures_raise_retriable_errors_without_payload_text(
    server: ModelServer,
) -> None:
    with pytest.raises(ScorerError, match="answered HTTP 503") as broken:
        await client(server.url("/broken")).aclassify([("secret payload text",)])
    assert broken.value.retriable
    assert "secret payload" not in str(broken.value)
    with pytest.raises(ScorerError, match="expected a list of 1 predictions"):
        await client(server.url("/garbage")).aclassify([("x",)])
    with pytest.raises(ScorerError, match="ReadTimeout"):
        await client(server.url("/slow"), timeout_s=0.2).aclassify([("x",)])


async def test_an_unreachable_server_is_a_scorer_error() -> None:
    with pytest.raises(ScorerError, match="ConnectError"):
        # Port 1 on loopback: nothing listens, the connection is refused at once.
        await client("http://127.0.0.1:1/predict").aclassify([("x",)])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([[{"label": "a"}]], "need label and score"),
        ([[{"label": "a", "score": 1.5}]], "not a probability"),
        ([[{"label": 3, "score": 0.5}]], "labels must be strings"),
        (["a"], "must be a list"),
        ({"a": 1}, "expected a list of 1"),
    ],
)
def test_malformed_predictions_are_refused(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_predictions(document, 1)
