"""Run code in a fresh interpreter: first imports and first model loads happen once per process,
so only a fresh process shows what they do (reach for the network, import training libraries)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_REFUSE_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise AssertionError("network access")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.getaddrinfo = _refuse
"""


def run_fresh(code: str, *, offline: bool = True, timeout: float = 120) -> str:
    """The stdout of `code` run by a new interpreter from the repository root (network refused
    unless `offline` is False); fails the test if the process fails."""
    source = (_REFUSE_NETWORK if offline else "") + code
    done = subprocess.run(
        [sys.executable, "-c", source],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
