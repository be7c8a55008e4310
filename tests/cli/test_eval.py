"""`protect eval` prints measured quality per metric from the shared labelled datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.metrics.backends.models import write_cue_model
from worker.metrics.evaluation import datasets_dir

ROOT = Path(__file__).resolve().parents[2]
PROTECT = str(Path(sys.executable).with_name("protect"))


def test_eval_prints_a_table_with_numbers() -> None:
    assert datasets_dir().is_dir(), f"the labelled datasets are expected at {datasets_dir()}"
    result = subprocess.run(
        [
            PROTECT,
            "eval",
            "--only",
            "language",
            "--suite",
            "public",
            "--limit",
            "1300",
            "--markdown",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| metric | dataset | n | precision | recall | F1 |")
    # The public row (NTREX); the realistic suite's rows follow it under the same metric name.
    (row,) = [line for line in lines if line.startswith("| input_language | langid_ntrex")]
    precision = float(row.split("|")[4])
    assert 0.5 < precision <= 1.0


def test_eval_prints_the_realistic_corpus_with_intervals_and_calibration() -> None:
    result = subprocess.run(
        [PROTECT, "eval", "--only", "toxicity", "--suite", "realistic", "--markdown"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    header, _, *rows = result.stdout.splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    (row,) = [r for r in rows if r.startswith("| toxicity | evals/toxicity (test half)")]
    cells = dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))
    low, high = (float(x) for x in cells["F1 95% CI"].split("-"))
    assert 0.0 <= low <= float(cells["F1"]) <= high <= 1.0
    assert 0.5 < float(cells["AUC"]) <= 1.0
    assert 0.0 <= float(cells["ECE"]) <= 1.0
    assert "trap FPR over" in cells["note"]


def test_eval_without_datasets_says_where_it_looked(tmp_path: Path) -> None:
    result = subprocess.run(
        [PROTECT, "eval", "--datasets", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "nowhere" in result.stderr


def test_train_reproduces_the_committed_adherence_head(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    result = subprocess.run(
        [sys.executable, "-m", "worker.metrics.training.adherence", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    trained = json.loads(out.read_text())
    committed = json.loads((ROOT / "worker/metrics/models/context_adherence.card.json").read_text())
    assert trained["weights"] == committed["weights"]
    assert trained["scores"] == committed["scores"]


def test_train_reproduces_the_committed_completeness_head(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.metrics.training.adherence",
            "completeness",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    trained = json.loads(out.read_text())
    committed = json.loads((ROOT / "worker/metrics/models/completeness.card.json").read_text())
    assert trained["trees"] == committed["trees"]
    assert trained["scores"] == committed["scores"]


def test_eval_measures_configured_backends_in_place_of_the_builtin_heads(tmp_path: Path) -> None:
    # Crude cue-word models: what matters is that their numbers, not the heads', are printed.
    toxicity = write_cue_model(
        tmp_path / "toxicity",
        ["neutral", "toxic"],
        {"toxic": ["idiot", "stupid", "hate", "bitch", "fuck"]},
        default="neutral",
    )
    tone = write_cue_model(
        tmp_path / "tone",
        ["neutral", "joy", "anger", "sadness"],
        {"joy": ["happy", "great", "love"], "anger": ["hate", "angry"], "sadness": ["sad"]},
        default="neutral",
    )
    stages = tmp_path / "stages.yaml"
    stages.write_text(
        yaml.safe_dump(
            {
                "backends": {
                    "input_toxicity": {"type": "onnx", "path": str(toxicity)},
                    "tone": {"type": "onnx", "path": str(tone)},  # Galileo's alias: output_tone
                    "prompt_injection": {"type": "http", "url": "http://127.0.0.1:1/predict"},
                }
            }
        )
    )
    command = [PROTECT, "eval", "--only", "toxicity", "--only", "tone", "--limit", "60"]
    result = subprocess.run(
        [*command, "--markdown", "--stages", str(stages)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    # Table lines after the header (the separator line starts with "|-").
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    assert {row[0] for row in rows} == {"| toxicity", "| input_tone"}
    for row in rows:
        assert f"backend {{'type': 'onnx', 'path': '{tmp_path}" in row[-1], row
    (davidson,) = [row for row in rows if row[1] == "toxicity_davidson (test)"]
    assert 0.0 <= float(davidson[5]) <= 1.0  # F1
    assert "prompt_injection's backend is not measured" in result.stderr
