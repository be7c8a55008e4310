"""A text classifier behind an HTTP model server (Text Embeddings Inference's `/predict`).

TEI (`ghcr.io/huggingface/text-embeddings-inference`, any sequence-classification model) and
Hugging Face's inference servers answer `{"inputs": [...]}` with, per input, a list of
`{"label", "score"}`; a server of the user's own may answer a `{label: score}` object per input
instead. Batches are cut to `batch_size` and at most `concurrency` are in flight per worker.

The URL is the operator's own (not a tenant's, unlike webhook URLs), so no SSRF guard applies;
header values are secret references resolved once at start-up and never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from worker.errors import MetricConfigError, ScorerError
from worker.metrics.backends.local import ModelInput
from worker.metrics.backends.outputs import Distribution
from worker.metrics.backends.spec import HttpBackend
from worker.secret_refs import resolve_secret


class HttpClassifier:
    def __init__(self, spec: HttpBackend, *, field: str) -> None:
        self.url = str(spec.url)
        self.batch_size = spec.batch_size
        self.concurrency = spec.concurrency
        self.timeout = httpx.Timeout(spec.timeout_s)
        headers: dict[str, str] = {}
        for name, ref in spec.headers.items():
            try:
                headers[name] = resolve_secret(ref)
            except Exception as exc:
                raise MetricConfigError(f"{field}.headers.{name}: {exc}") from exc
        self._headers = headers
        # A client and a semaphore belong to one event loop; the in-process API may run each
        # call on a fresh loop (`asyncio.run`), so they are made per loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    def _for_this_loop(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._slots is None:
            self._loop = loop
            self._client = httpx.AsyncClient(
                headers=self._headers,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.concurrency),
                follow_redirects=False,
            )
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._client, self._slots

    async def aclassify(self, inputs: Sequence[ModelInput]) -> list[Distribution]:
        batches = [
            inputs[start : start + self.batch_size]
            for start in range(0, len(inputs), self.batch_size)
        ]
        results = await asyncio.gather(*(self._post(batch) for batch in batches))
        return [distribution for batch in results for distribution in batch]

    async def _post(self, batch: Sequence[ModelInput]) -> list[Distribution]:
        client, slots = self._for_this_loop()
        body = {
            "inputs": [item[0] if len(item) == 1 else list(item) for item in batch],
            "raw_scores": False,
            "truncate": True,
        }
        async with slots:
            try:
                response = await client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                raise ScorerError(f"model server {self.url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ScorerError(f"model server {self.url} answered HTTP {response.status_code}")
        try:
            return parse_predictions(response.json(), len(batch))
        except ValueError as exc:
            raise ScorerError(f"model server {self.url}: {exc}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def parse_predictions(document: Any, expected: int) -> list[Distribution]:
    """Per input, label -> probability, from either answer shape; ValueError when malformed."""
    if not isinstance(document, list) or len(document) != expected:
        raise ValueError(f"expected a list of {expected} predictions")
    parsed: list[Distribution] = []
    for prediction in document:
        pairs: list[tuple[Any, Any]]
        if isinstance(prediction, Mapping):
            pairs = list(prediction.items())
        elif isinstance(prediction, list):
            try:
                pairs = [(entry["label"], entry["score"]) for entry in prediction]
            except (KeyError, TypeError) as exc:
                raise ValueError("a prediction's entries need label and score") from exc
        else:
            raise ValueError("a prediction must be a list of {label, score} or an object")
        distribution: dict[str, float] = {}
        for label, score in pairs:
            if not isinstance(label, str) or isinstance(score, bool):
                raise ValueError("labels must be strings and scores numbers")
            if not isinstance(score, int | float) or not 0 <= score <= 1:
                raise ValueError(f"score of {label!r} is not a probability")
            distribution[label] = float(score)
        parsed.append(distribution)
    return parsed


__all__ = ["HttpClassifier", "parse_predictions"]
