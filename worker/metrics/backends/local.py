"""Text classifiers from a local model directory: an ONNX export, or a transformers checkpoint.

The directory is what the Hugging Face tools write, so any sequence-classification model a user
has (fine-tuned in-house, or downloaded once by them) plugs in without code:

- `onnx`: `optimum-cli export onnx --task text-classification --model M DIR` writes
  `model.onnx`, `tokenizer.json` and `config.json` (labels in `id2label`). Runs on onnxruntime,
  which the worker already has; this is the recommended way to run a transformers model here.
- `transformers`: `save_pretrained` output, loaded with PyTorch. Needs `torch` and
  `transformers` installed beside the worker (not dependencies of the project: a CPU build of
  torch alone is ~200 MB), and loads with `local_files_only`, so nothing is fetched.

Inputs are one text, or a text pair for metrics that read two fields (context, then output:
premise and hypothesis, the order NLI and groundedness cross-encoders are trained on). Texts
longer than `max_tokens` are truncated.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from worker.errors import MetricConfigError
from worker.metrics.backends.outputs import Distribution, probabilities
from worker.metrics.backends.spec import OnnxBackend, TransformersBackend

# What optimum names the exported graph; a quantised export adds a suffix, chosen with `path:
# DIR/model_quantized.onnx`.
ONNX_FILE = "model.onnx"

# One model input: a text, or a (text, text_pair).
ModelInput = tuple[str] | tuple[str, str]


class Classifier(Protocol):
    labels: tuple[str, ...]

    def classify(self, inputs: Sequence[ModelInput]) -> list[Distribution]: ...


class ModelConfig:
    """The parts of a transformers `config.json` a classifier needs: labels and activation."""

    def __init__(self, directory: Path, *, field: str) -> None:
        path = directory / "config.json"
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MetricConfigError(f"{field}.path: cannot read {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise MetricConfigError(f"{field}.path: {path} is not JSON: {exc}") from exc
        id2label = raw.get("id2label")
        if not isinstance(id2label, dict) or not id2label:
            raise MetricConfigError(
                f"{field}.path: {path} has no id2label: not a sequence-classification model"
            )
        try:
            by_id = {int(key): str(value) for key, value in id2label.items()}
        except ValueError as exc:
            raise MetricConfigError(f"{field}.path: {path}: id2label keys must be ids") from exc
        if sorted(by_id) != list(range(len(by_id))):
            raise MetricConfigError(f"{field}.path: {path}: id2label ids are not 0..n-1")
        self.labels = tuple(by_id[i] for i in range(len(by_id)))
        self.multi_label = raw.get("problem_type") == "multi_label_classification"
        pad = raw.get("pad_token_id")
        self.pad_token_id = int(pad) if isinstance(pad, int) else 0


def model_directory(spec: OnnxBackend | TransformersBackend, *, field: str) -> Path:
    path = spec.path.expanduser()
    directory = path.parent if path.suffix == ".onnx" else path
    if not directory.is_dir():
        raise MetricConfigError(f"{field}.path: {directory} is not a directory")
    return directory


def _distributions(labels: tuple[str, ...], probs: npt.NDArray[np.float64]) -> list[Distribution]:
    return [dict(zip(labels, row, strict=True)) for row in probs.tolist()]


class OnnxClassifier:
    """A sequence-classification ONNX graph (`logits` of shape (n, labels)) on onnxruntime."""

    def __init__(self, spec: OnnxBackend, *, field: str) -> None:
        # Imported here: only deployments that configure an ONNX backend pay for the session.
        import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
        from tokenizers import Tokenizer

        directory = model_directory(spec, field=field)
        model = spec.path if spec.path.suffix == ".onnx" else directory / ONNX_FILE
        tokenizer_path = directory / "tokenizer.json"
        for required in (model, tokenizer_path):
            if not required.is_file():
                raise MetricConfigError(f"{field}.path: {required} is missing")
        self.config = ModelConfig(directory, field=field)
        self.labels = self.config.labels
        self.batch_size = spec.batch_size

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # Exports often carry a fixed padding; each sub-batch is padded to its own longest row.
        tokenizer.no_padding()
        tokenizer.enable_truncation(spec.max_tokens)
        self._tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = spec.threads
        options.inter_op_num_threads = 1
        # Same reasons as the shared embedder: no idle spinning stealing the core from the next
        # scorer, and no arena that keeps every batch shape's buffers for ever.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise MetricConfigError(
                f"{field}.path: {model} lacks the inputs {sorted(missing)} of a text classifier"
            )
        (output,) = self._session.get_outputs()[:1]
        self._output = output.name

    def classify(self, inputs: Sequence[ModelInput]) -> list[Distribution]:
        if not inputs:
            return []
        encodings = self._tokenizer.encode_batch(
            [item[0] if len(item) == 1 else (item[0], item[1]) for item in inputs]
        )
        lengths = np.array([len(e.ids) for e in encodings])
        # Sorted by length, each sub-batch is padded only to its own longest row.
        order = np.argsort(lengths, kind="stable")
        logits: npt.NDArray[np.float32] | None = None
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.config.pad_token_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                encoding = encodings[row]
                n = len(encoding.ids)
                ids[i, :n] = encoding.ids
                mask[i, :n] = 1
                types[i, :n] = encoding.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = types
            (out,) = self._session.run([self._output], feeds)
            out = np.asarray(out, dtype=np.float32)
            if out.ndim != 2 or out.shape[1] != len(self.labels):
                raise ValueError(
                    f"model output of shape {out.shape}, expected (n, {len(self.labels)})"
                )
            if logits is None:
                logits = np.empty((len(inputs), out.shape[1]), dtype=np.float32)
            logits[rows] = out
        assert logits is not None
        return _distributions(
            self.labels, probabilities(logits, multi_label=self.config.multi_label)
        )


class TransformersClassifier:
    """A `save_pretrained` sequence-classification checkpoint, run by PyTorch on the CPU."""

    def __init__(self, spec: TransformersBackend, *, field: str) -> None:
        directory = model_directory(spec, field=field)
        self.config = ModelConfig(directory, field=field)
        self.labels = self.config.labels
        self.batch_size = spec.batch_size
        self.max_tokens = spec.max_tokens
        try:
            # Optional packages (not dependencies of the project), so typed as Any here.
            torch: Any = importlib.import_module("torch")
            transformers: Any = importlib.import_module("transformers")
        except ImportError as exc:
            raise MetricConfigError(
                f"{field}.type: 'transformers' needs torch and transformers installed beside "
                "the worker (or export the model to ONNX and use type: onnx)"
            ) from exc
        # Process-wide in torch: the engine's pool runs scorers in parallel already.
        torch.set_num_threads(spec.threads)
        self._torch = torch
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(
            directory, local_files_only=True
        )
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            directory, local_files_only=True
        )
        model.eval()
        self._model = model

    def classify(self, inputs: Sequence[ModelInput]) -> list[Distribution]:
        results: list[Distribution] = []
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start : start + self.batch_size]
            first = [item[0] for item in chunk]
            second = [item[-1] for item in chunk] if len(chunk[0]) == 2 else None
            encoded = self._tokenizer(
                first,
                second,
                truncation=True,
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            )
            with self._torch.inference_mode():
                logits = self._model(**encoded).logits.float().numpy()
            results.extend(
                _distributions(
                    self.labels, probabilities(logits, multi_label=self.config.multi_label)
                )
            )
        return results


__all__ = [
    "Classifier",
    "ModelConfig",
    "ModelInput",
    "OnnxClassifier",
    "TransformersClassifier",
    "model_directory",
]
