"""How a deployment declares a stronger model for a built-in metric (the `backends:` section).

    backends:
      input_toxicity:                      # a metric name or a Galileo alias
        type: onnx                         # a local Optimum/ONNX export directory
        path: /models/toxic-classifier     # model.onnx + tokenizer.json + config.json
        positive_labels: [toxic]
      prompt_injection:
        type: http                         # a model server (Text Embeddings Inference protocol)
        url: http://models:8080/predict
        label_map: {INJECTION: new_context}
      output_tone:
        type: transformers                 # a local transformers directory (needs torch)
        path: /models/emotion-classifier
        label_map: {joy: joy, anger: anger, sadness: sadness}

Every backend is a text classifier: it returns a probability per model label, which the output
mapping below turns into the metric's value kind. The models are the user's; nothing is
downloaded (a path must be a local directory, a URL the user's own server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

# Tokens a local model reads per text (or text pair); the rest is truncated. 512 is the
# position-table size of BERT-family encoders, the usual export.
DEFAULT_MAX_TOKENS = 512
# Texts per model call: large enough to amortise per-call overhead, small enough that one long
# batch's attention tensors (rows x heads x tokens^2) stay in the tens of MB.
DEFAULT_BATCH_SIZE = 16
# A remote model server answers a batch within this, or the metric is `failed` for the batch
# (the request's own timeout still applies on top).
DEFAULT_HTTP_TIMEOUT_S = 10.0
# Batches in flight to one model server: bounded so a slow server is not flooded by a worker
# that fetches thousands of events at once.
DEFAULT_HTTP_CONCURRENCY = 4


class _Backend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Score metrics (toxicity, sexism, adherence...): the value is the summed probability of
    # these model labels. Default for a local model: its only label (one sigmoid output), or
    # label id 1 of two (the usual "negative, positive" order).
    positive_labels: list[str] = Field(default_factory=list)
    # Label metrics (tone, PII, injection types): model label -> metric label. Unset: model
    # labels that are in the metric's vocabulary map to themselves, the others are dropped.
    label_map: dict[str, str] | None = None
    # Label-list metrics: a label is reported when its probability reaches this.
    threshold: float = Field(default=0.5, ge=0, le=1)


class OnnxBackend(_Backend):
    """A local directory as `optimum-cli export onnx --task text-classification` writes it."""

    type: Literal["onnx"]
    path: Path
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=8)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    # onnxruntime intra-op threads per call; the engine's CPU pool already runs scorers in
    # parallel, so one per call avoids oversubscribing the cores.
    threads: int = Field(default=1, ge=1)


class TransformersBackend(_Backend):
    """A local `save_pretrained` directory of a sequence-classification model (PyTorch)."""

    type: Literal["transformers"]
    path: Path
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=8)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    threads: int = Field(default=1, ge=1)


class HttpBackend(_Backend):
    """A model server speaking Text Embeddings Inference's `/predict` protocol.

    Request: `{"inputs": [text, ...]}` (or `[[text, text_pair], ...]` for two-field metrics such
    as context adherence), `"raw_scores": false`, `"truncate": true`. Response: per input a list
    of `{"label", "score"}` (TEI, Hugging Face inference servers), or a `{label: score}` object.
    """

    type: Literal["http"]
    url: HttpUrl
    timeout_s: float = Field(default=DEFAULT_HTTP_TIMEOUT_S, gt=0)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE * 2, ge=1)
    concurrency: int = Field(default=DEFAULT_HTTP_CONCURRENCY, ge=1)
    # Extra request headers; values are secret references (`env:NAME`, `file:/path`) so that
    # tokens never sit in configuration files or logs.
    headers: dict[str, str] = Field(default_factory=dict)


BackendSpec = Annotated[
    OnnxBackend | TransformersBackend | HttpBackend, Field(discriminator="type")
]

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_HTTP_CONCURRENCY",
    "DEFAULT_HTTP_TIMEOUT_S",
    "DEFAULT_MAX_TOKENS",
    "BackendSpec",
    "HttpBackend",
    "OnnxBackend",
    "TransformersBackend",
]
