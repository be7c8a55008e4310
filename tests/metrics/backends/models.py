"""Real (tiny) text-classification models written to disk in the layout users bring.

A "bag of cue words" classifier: logits = bias + the sum, over the text's tokens, of a per-token
row of weights. It is a genuine ONNX graph run by onnxruntime with the MiniLM tokenizer, in the
directory layout `optimum-cli export onnx` writes (model.onnx, tokenizer.json, config.json), so
the backend code under test is exactly what a user's exported model goes through; only the
weights are made small and readable, so that the expected outputs are known.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

from worker.metrics.embedding import TOKENIZER_PATH

# Each cue token adds this to its label's logit: one cue word outweighs the default bias.
CUE_WEIGHT = 4.0
DEFAULT_BIAS = 2.0


def write_cue_model(
    directory: Path,
    labels: Sequence[str],
    cues: Mapping[str, Sequence[str]],
    *,
    default: str | None = None,
    multi_label: bool = False,
    token_type_ids: bool = True,
) -> Path:
    """A classifier over `labels`: each word in `cues[label]` pushes the text towards `label`.

    `default` gets a head start (the label of a text without cues). Multi-label models have
    problem_type multi_label_classification (independent sigmoids) and a negative bias instead.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(TOKENIZER_PATH, directory / "tokenizer.json")
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_padding()  # the file pads to 128: [PAD] must not become a cue
    vocab_size = tokenizer.get_vocab_size()
    table = np.zeros((vocab_size, len(labels)), dtype=np.float32)
    for label, words in cues.items():
        for word in words:
            for token_id in tokenizer.encode(word, add_special_tokens=False).ids:
                table[token_id, labels.index(label)] = CUE_WEIGHT
    bias = np.full(len(labels), -DEFAULT_BIAS if multi_label else 0.0, dtype=np.float32)
    if default is not None:
        bias[labels.index(default)] = DEFAULT_BIAS

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
    ]
    if token_type_ids:
        inputs.append(
            helper.make_tensor_value_info(
                "token_type_ids", TensorProto.INT64, ["batch", "sequence"]
            )
        )
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["per_token"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask_3d"]),
        helper.make_node("Mul", ["per_token", "mask_3d"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "sequence_axis"], ["summed"], keepdims=0),
        helper.make_node("Add", ["summed", "bias"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "sequence_axis"),
    ]
    graph = helper.make_graph(
        nodes,
        "cue_classifier",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the project allows
    onnx.checker.check_model(model)
    onnx.save(model, str(directory / "model.onnx"))

    config = {
        "architectures": ["BertForSequenceClassification"],
        "id2label": {str(i): label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
        "pad_token_id": 0,
        "problem_type": (
            "multi_label_classification" if multi_label else "single_label_classification"
        ),
    }
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


__all__ = ["CUE_WEIGHT", "DEFAULT_BIAS", "write_cue_model"]
