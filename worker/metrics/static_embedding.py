"""A static token embedding: a text's vector without a network pass (the fast tier's encoder).

Built by `protect train static_embedding` (worker/metrics/training/static_embedding.py) from the
shipped all-MiniLM-L6-v2: every WordPiece token's MiniLM vector, reduced by PCA to 256
dimensions and weighted by token frequency (the model2vec recipe). A text's vector is the mean of
its tokens' rows, L2-normalised, so cosine similarity is a dot product as with the MiniLM
embedder. It reads word choice, not word order or context: "not bad" is near "bad". Where that
matters the accurate tier (MiniLM, `embedding.py`) decides.

Cost: tokenising (the same Rust tokenizer as MiniLM) plus one gather and one mean, roughly a
hundred times cheaper than the int8 MiniLM pass (docs/fast-tier.md has the measurements). Numpy
only; the table (int8 rows and a scale per row, ~7 MB) is dequantised once at load (~31 MB).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from worker.metrics.embedding import TOKENIZER_PATH
from worker.metrics.loading import Lazy

FloatArray = npt.NDArray[np.float32]

MODEL_PATH: Final = Path(__file__).parent / "models" / "static_embedding.npz"
CARD_PATH: Final = Path(__file__).parent / "models" / "static_embedding.card.json"

# Tokens read per text. Scorers chunk long texts (`embedding.chunk_text`), so a chunk is far
# shorter; the cap bounds the cost of one huge unchunked text (about 20,000 characters).
MAX_TOKENS: Final = 4096

# int8 storage: the largest |value| of a row maps to this.
INT8_MAX: Final = 127


def quantise(rows: FloatArray) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Rows as int8 and one float32 scale per row (row ≈ int8 * scale)."""
    peak = np.abs(rows).max(axis=1)
    scales = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
    table = np.rint(rows / scales[:, None]).astype(np.int8)
    return table, scales


class StaticEmbedder:
    """Texts to L2-normalised float32 vectors of `dim` dimensions. Thread-safe (read-only)."""

    def __init__(self, model_path: Path = MODEL_PATH, tokenizer_path: Path = TOKENIZER_PATH):
        with np.load(model_path) as data:
            table = np.asarray(data["table"], dtype=np.float32)
            scales = np.asarray(data["scales"], dtype=np.float32)
        self._table: FloatArray = table * scales[:, None]
        self._table.setflags(write=False)
        self.dim: int = int(table.shape[1])
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer
        if tokenizer.get_vocab_size() != table.shape[0]:
            raise RuntimeError(
                f"{model_path} has {table.shape[0]} rows for a vocabulary of "
                f"{tokenizer.get_vocab_size()}: rebuild it with `protect train static_embedding`"
            )

    def token_ids(self, text: str) -> list[int]:
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, in order: shape (len(texts), dim); an empty text is all zeros."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 1:
            # One text (a chat message): `encode` skips the batch machinery's overhead.
            ids_of = [self.token_ids(texts[0])]
        else:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
            ids_of = [e.ids for e in encodings]
        for i, ids in enumerate(ids_of):
            if ids:
                out[i] = self._table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: FloatArray = out / np.clip(norms, 1e-12, None)
        return result

    # The name the training code calls on an embedder (`embedding.Embedder.embed_uncached`):
    # nothing is cached here, computing is cheaper than a lookup would be.
    embed_uncached = embed


_static = Lazy(StaticEmbedder)


def get_static_embedder() -> StaticEmbedder:
    """The process-wide static embedder, loaded on first use."""
    return _static.get()


__all__ = [
    "CARD_PATH",
    "MAX_TOKENS",
    "MODEL_PATH",
    "StaticEmbedder",
    "get_static_embedder",
    "quantise",
]
