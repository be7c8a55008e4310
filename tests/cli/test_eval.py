"""`protect eval` prints measured quality per metric from the shared labelled datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from worker.metrics.evaluation import datasets_dir

ROOT = Path(__file__).resolve().parents[2]
PROTECT = str(Path(sys.executable).with_name("protect"))


def test_eval_prints_a_table_with_numbers() -> None:
    assert datasets_dir().is_dir(), f"the labelled datasets are expected at {datasets_dir()}"
    result = subprocess.run(
        [PROTECT, "eval", "--only", "language", "--limit", "1300", "--markdown"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| metric | dataset | n | precision | recall | F1 |")
    (row,) = [line for line in lines if line.startswith("| input_language |")]
    precision = float(row.split("|")[4])
    assert 0.5 < precision <= 1.0


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
        [sys.executable, "-m", "worker.metrics.train_adherence", "--out", str(out)],
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
