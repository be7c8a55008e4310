"""The in-process service's start-up policy (process-wide, so checked in fresh interpreters)."""

from __future__ import annotations

import json

from tests.offline import run_fresh
from worker.runtime import BLAS_THREADS

_BLAS_THREADS = """
import json
import os
# Two BLAS threads to start with on any machine (one core would give one), so the cap shows.
os.environ["OPENBLAS_NUM_THREADS"] = "2"
from threadpoolctl import threadpool_info
import numpy  # loads OpenBLAS
before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
from worker.runtime import Protect
Protect.from_file("examples/stages.yaml").warm_up(freeze_heap=False)
after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
print(json.dumps({"before": before, "after": after}))
"""


def test_warm_up_caps_blas_threads_so_the_cpu_pool_is_the_only_parallelism() -> None:
    result = json.loads(run_fresh(_BLAS_THREADS).strip().splitlines()[-1])
    assert result["before"], "numpy's BLAS was not found"
    assert max(result["before"]) > BLAS_THREADS
    # Every BLAS the models brought in (numpy's, and any loaded later) is capped.
    assert result["after"]
    assert set(result["after"]) == {BLAS_THREADS}
