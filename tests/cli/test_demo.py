"""`protect demo`, the README's first command, end to end on its embedded broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTECT = str(Path(sys.executable).with_name("protect"))


def test_demo_screens_every_event_and_shows_responses() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    result = subprocess.run(
        [PROTECT, "--log-format", "json", "demo", "--events", "300"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "screened 300/300" in out
    assert "A triggered/OVERRIDE Response:" in out
    assert "A triggered/PASSTHROUGH Response:" in out  # non-English prompts
    assert "A not_triggered/PASSTHROUGH Response:" in out
    # Triggered rulesets notified the example receiver through the notifier, signed.
    webhooks = next(
        line
        for line in out.splitlines()
        if line.startswith("webhooks: ") and "deliveries received" in line
    )
    received, expected = webhooks.split()[1], webhooks.split()[3]
    assert received == expected, webhooks
    assert int(received.replace(",", "")) > 0
    assert '"event": "embedded_broker_started"' in result.stderr
    assert '"event": "worker_stopped"' in result.stderr  # the worker shut down cleanly
