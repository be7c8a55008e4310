"""The shared sentence embedder: vectors, batching, the cache, chunking, and no network."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.offline import run_fresh
from worker.metrics import embedding
from worker.metrics.embedding import (
    CHUNK_CHARS,
    EMBEDDING_DIM,
    MAX_CHUNKS,
    WHOLE_TEXT_CHARS,
    Embedder,
    chunk_text,
    embed_by_chunks,
    get_embedder,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    # A private instance: the cache counters start at zero whatever other tests did.
    return Embedder(threads=1, cache_size=64)


def test_shape_dtype_and_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed(["hello there", "how do I reset my password?", ""])
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, EMBEDDING_DIM)


def test_batching_preserves_order(embedder: Embedder) -> None:
    # Lengths deliberately unsorted: the embedder sorts by length and pads per sub-batch.
    texts = [
        "a much longer sentence about the weather in Paris during the spring of last year",
        "short",
        "a medium length question about trains?",
        "short",
        "x " * 300,  # past the 256-token limit: truncated, not an error
    ]
    together = embedder.embed_uncached(texts)
    alone = np.stack([embedder.embed_uncached([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    np.testing.assert_array_equal(together[1], together[3])


def test_cache_shares_one_embedding_per_text() -> None:
    embedder = Embedder(threads=1, cache_size=3)
    first = embedder.embed(["one", "two", "one"])
    assert (embedder.misses, embedder.hits) == (2, 0)
    again = embedder.embed(["two", "one"])
    assert (embedder.misses, embedder.hits) == (2, 2)
    np.testing.assert_array_equal(again, first[[1, 0]])
    # A cached row is shared by every scorer: nobody may write to it.
    assert not any(v.flags.writeable for v in embedder._cache.values())
    embedder.embed(["three", "four"])  # evicts the least recently used ("two")
    embedder.embed(["two"])
    assert embedder.misses == 5


def test_concurrent_callers_embed_each_text_once() -> None:
    embedder = Embedder(threads=1, cache_size=1024)
    texts = [f"message number {i} about the order" for i in range(40)]
    barrier = threading.Barrier(4)
    results: list[np.ndarray[Any, Any]] = []

    def work() -> None:
        barrier.wait()
        results.append(embedder.embed(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert embedder.misses == len(texts)
    assert embedder.hits == 3 * len(texts)
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "The recipe needs two cups of flour and an egg.",
        ]
    )
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.3


def test_process_wide_embedder_is_one_instance() -> None:
    found: list[Embedder] = []
    threads = [threading.Thread(target=lambda: found.append(get_embedder())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(e is found[0] for e in found)
    assert found[0].threads == embedding.DEFAULT_THREADS


def test_chunks_of_short_and_long_texts() -> None:
    assert chunk_text("  You are kind.  ") == ["You are kind."]
    # Up to WHOLE_TEXT_CHARS a text is one chunk, as the heads were trained.
    tweet = "You are kind. " * (WHOLE_TEXT_CHARS // 15)
    assert chunk_text(tweet) == [tweet.strip()]
    polite = "Thank you so much for the quick answer yesterday. " * 12
    text = polite + "You are a worthless idiot.\n" + polite
    chunks = chunk_text(text)
    assert len(chunks) > 1
    assert all(len(c) <= CHUNK_CHARS for c in chunks)
    assert " ".join(chunks).split() == text.split()  # nothing lost below the cap
    assert any("worthless idiot" in c for c in chunks)
    # A sentence without punctuation is cut at spaces; a huge text stops at MAX_CHUNKS.
    assert all(len(c) <= CHUNK_CHARS for c in chunk_text("word " * 200))
    assert len(chunk_text("word " * 100_000)) == MAX_CHUNKS


def test_one_vector_per_text_from_the_chunks_the_heads_already_embedded() -> None:
    shared = get_embedder()
    short = "What a lovely surprise, thank you!"
    long = "I waited three weeks for the parcel and nobody answered my emails. " * 8
    vectors = embed_by_chunks([short, long])
    # A short text is its own single chunk: exactly its embedding.
    np.testing.assert_allclose(vectors[0], shared.embed([short])[0], atol=1e-6)
    # A long text: the normalised mean of its chunk vectors...
    mean = shared.embed(chunk_text(long)).mean(axis=0)
    np.testing.assert_allclose(vectors[1], mean / np.linalg.norm(mean), atol=1e-6)
    # ... which are then cache hits: embedding the long text again costs nothing new.
    misses = shared.misses
    embed_by_chunks([long])
    assert shared.misses == misses


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("network access")


def test_loading_and_embedding_open_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    vectors = Embedder(threads=1).embed(["offline please"])
    assert vectors.shape == (1, EMBEDDING_DIM)


_FRESH_PROCESS = """
from worker.metrics.sexism import InputSexist
from worker.metrics.toxicity import OutputToxicity

for scorer in (InputSexist(), OutputToxicity()):
    scorer.warm_up()
    print(scorer.score_batch([("have a nice day",)]))
"""


def test_fresh_process_scores_without_network() -> None:
    # Imports (tokenizers, onnxruntime) and first loads happen only once per process: only a fresh
    # process shows that none of them reaches for the network.
    assert run_fresh(_FRESH_PROCESS).count("[") == 2


def test_wrong_model_file_is_refused(tmp_path: Path) -> None:
    # The heads are only valid for the pinned model: a swapped file must fail loudly.
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(RuntimeError, match="not the embedding model"):
        embedding.Embedder(model_path=fake, verify=True)
