"""Benchmark: `protect run --processes 1` against `--processes 2` on one broker, in one run.

    nice -n 10 python bench/processes.py [--rounds 2] [--n-pii 4000] [--n-full 300]

For two stages, the PII + language stage (examples/stages.yaml `input-guard`, the events of
bench/stream.py) and the whole default stack (a stage with a rule on every built-in metric, a
prompt and a different answer per event, every sentence new to the embedding cache), the real
command runs as a subprocess with 1 and then 2 processes (the order alternates between rounds:
interleaved, so a machine getting busier or quieter does not favour one). Each measurement: the
group is formed first (every child holds its partitions; model loading and joining are
excluded), then N events are produced; events/s = N / (the last Response's record timestamp,
set by the worker as it sends, - the first send), and events per CPU-second of the worker
processes over the same window (their own user + system time, which the machine's other load
changes far less). The broker is an embedded one on loopback, a subprocess sharing the
machine's cores with the workers and this script: the 2-process figure has no more cores than
the 1-process one had, only the cores the one process could not use. Figures are ratios within
one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.metrics import distinct  # noqa: E402
from bench.stream import PARTITIONS, PROMPTS, event  # noqa: E402
from bench.stream import settings_for as stream_settings  # noqa: E402
from worker.contract.stage import StageDefinition  # noqa: E402
from worker.logging import configure_logging  # noqa: E402
from worker.metrics.builtin import builtin_scorers, default_registry  # noqa: E402
from worker.settings import Settings  # noqa: E402
from worker.stages.files import load_stages_file  # noqa: E402
from worker.stream.broker import BrokerKind, EmbeddedBroker  # noqa: E402
from worker.stream.screening import ScreeningWorker  # noqa: E402
from worker.stream.service import publish_file_stages  # noqa: E402
from worker.stream.topics import ensure_topics  # noqa: E402

PROTECT = str(Path(sys.executable).with_name("protect"))
EXAMPLES = ROOT / "examples" / "stages.yaml"
STAGES_TOPIC = "bench-processes.stages"
# Children load their models and the group forms before a measurement starts: a bound on that.
START_S = 600.0
# A measurement that has not finished in this long is broken, not slow.
RUN_S = 900.0

# One rule per built-in metric, each a rule the metric's value type can trigger, so the engine
# computes every metric for every event (the default stack a cautious deployment would run).
FULL_STACK_RULES: dict[str, dict[str, Any]] = {
    "input_pii": {"operator": "not_empty"},
    "output_pii": {"operator": "not_empty"},
    "input_language": {"operator": "neq", "target_value": "en"},
    "output_language": {"operator": "neq", "target_value": "en"},
    "context_adherence": {"operator": "lt", "target_value": 0.5},
    "completeness": {"operator": "lt", "target_value": 0.5},
    "input_tone": {"operator": "eq", "target_value": "anger"},
    "output_tone": {"operator": "eq", "target_value": "anger"},
    "input_secrets": {"operator": "not_empty"},
    "output_secrets": {"operator": "not_empty"},
    "prompt_injection": {"operator": "not_empty"},
    "input_toxicity": {"operator": "gt", "target_value": 0.5},
    "output_toxicity": {"operator": "gt", "target_value": 0.5},
    "input_sexist": {"operator": "gt", "target_value": 0.5},
    "output_sexist": {"operator": "gt", "target_value": 0.5},
}


def full_stack_stage() -> dict[str, Any]:
    missing = {s.name for s in builtin_scorers()} - set(FULL_STACK_RULES)
    assert not missing, f"built-in metrics without a rule here: {sorted(missing)}"
    return {
        "name": "full-stack",
        "type": "central",
        "prioritized_rulesets": [
            {"rules": [{"metric": metric, **rule}], "action": {"type": "PASSTHROUGH"}}
            for metric, rule in FULL_STACK_RULES.items()
        ],
    }


def full_stack_event(i: int) -> bytes:
    """A prompt and a different answer, each sentence tagged with the event: no cache hits."""
    prompt = distinct(PROMPTS[i % len(PROMPTS)], f"in{i}")
    answer = distinct(PROMPTS[(i + 1) % len(PROMPTS)], f"out{i}")
    return json.dumps(
        {"payload": {"input": prompt, "output": answer}, "metadata": {"seq": str(i)}}
    ).encode()


def settings_for(name: str, stage: str, project: str) -> Settings:
    # bench/stream.py's settings, with the registry topic the children share.
    return stream_settings(name, stage, project).model_copy(update={"stages_topic": STAGES_TOPIC})


def environment(settings: Settings) -> dict[str, str]:
    binding = settings.bindings[0]
    return {
        **os.environ,
        "PROTECT_BINDINGS": json.dumps([binding.model_dump()]),
        "PROTECT_GROUP_ID": settings.group_id,
        "PROTECT_DEADLETTER_TOPIC": settings.deadletter_topic,
        "PROTECT_STAGES_TOPIC": settings.stages_topic,
        "PROTECT_TOPIC_PARTITIONS": str(settings.topic_partitions),
    }


def formed(log: Path, topic: str, processes: int) -> bool:
    """Every process holds partitions of `topic`, none twice, all covered (from the logs)."""
    latest: dict[object, set[str]] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("event") == "partitions_assigned":
            latest[record.get("process")] = {
                p for p in record["partitions"] if p.rsplit(":", 1)[0] == topic
            }
    held = [p for partitions in latest.values() for p in partitions]
    return (
        len(latest) == processes
        and all(latest.values())
        and len(held) == len(set(held)) == PARTITIONS
    )


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by `root` and its live descendants (the
    supervisor and its children; not the broker, which is not under them)."""
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        # After the command name: state, ppid, ..., utime and stime are fields 12 and 13.
        parent[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(used.get(pid, 0.0) for pid in tree)


async def produce(bootstrap: str, topic: str, n: int, make: Callable[[int], bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, make(i), key=f"k{i}".encode()) for i in range(n)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def last_result_ms(bootstrap: str, topic: str, n: int) -> int:
    """Read `topic` until `n` records; the latest record timestamp (the worker's send time)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, latest = 0, 0
        deadline = time.monotonic() + RUN_S
        while seen < n:
            assert time.monotonic() < deadline, f"{seen} of {n} Responses after {RUN_S:g} s"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += len(records)
                latest = max([latest, *(r.timestamp for r in records)])
        return latest
    finally:
        await consumer.stop()


async def measure(
    bootstrap: str,
    processes: int,
    stage: str,
    n: int,
    make: Callable[[int], bytes],
    logs: Path,
) -> tuple[float, float]:
    """Events/s of wall-clock time, and events per CPU-second of the worker processes."""
    name = f"{stage}-{processes}p-{uuid.uuid4().hex[:6]}"
    settings = settings_for(name, stage, "demo-chatbot")
    binding = settings.bindings[0]
    await ensure_topics(bootstrap, ScreeningWorker.topic_specs(settings))
    log = logs / f"{name}.log"
    with log.open("wb") as sink:
        worker = await asyncio.create_subprocess_exec(
            PROTECT,
            *("--log-format", "json", "run", "--processes", str(processes)),
            *("--bootstrap", bootstrap, "--stages", str(EXAMPLES)),
            env=environment(settings),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + START_S
        while not formed(log, binding.input, processes):
            assert worker.returncode is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"group not formed: {log}"
            await asyncio.sleep(0.2)
        cpu_before = tree_cpu_s(worker.pid)
        started = time.time()
        await produce(bootstrap, binding.input, n, make)
        finished_ms = await last_result_ms(bootstrap, binding.results, n)
        # Before stopping (a drain is not screening); idle children add only their fetch polls.
        cpu_s = tree_cpu_s(worker.pid) - cpu_before
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 120) == 0, log.read_text()[-3000:]
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    return n / (finished_ms / 1000 - started), n / cpu_s


async def run(rounds: int, sizes: dict[str, int], kind: BrokerKind) -> None:
    examples = load_stages_file(EXAMPLES)
    document = examples.model_copy(
        update={"stages": [*examples.stages, StageDefinition.model_validate(full_stack_stage())]}
    )
    makers: dict[str, Callable[[int], bytes]] = {
        "input-guard": event,
        "full-stack": full_stack_event,
    }
    labels = {"input-guard": "PII + language stage", "full-stack": "whole default stack"}
    rates: dict[tuple[str, int], list[float]] = {}
    per_cpu: dict[tuple[str, int], list[float]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-processes-") as logs:
        async with EmbeddedBroker(kind) as broker:
            bootstrap = broker.bootstrap_servers
            await publish_file_stages(
                document,
                settings_for("publish", "input-guard", "demo-chatbot"),
                bootstrap,
                default_registry(document.metrics, document.backends),
            )
            for r in range(rounds):
                for stage, n in sizes.items():
                    order = (1, 2) if r % 2 == 0 else (2, 1)
                    for processes in order:
                        rate, efficiency = await measure(
                            bootstrap, processes, stage, n, makers[stage], Path(logs)
                        )
                        rates.setdefault((stage, processes), []).append(rate)
                        per_cpu.setdefault((stage, processes), []).append(efficiency)
                        print(
                            f"round {r + 1}: {labels[stage]:22} {processes} process(es): "
                            f"{rate:8,.1f} events/s, {efficiency:8,.1f} events per CPU-second",
                            flush=True,
                        )
    print(
        f"\nbroker: {kind.value} (embedded, loopback), {PARTITIONS} partitions, "
        f"{os.cpu_count()} cores shared by the broker, the workers and this script; "
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    print(f"{'stage':24} {'events':>7} {'1 process/s':>12} {'2 processes/s':>14} {'ratio':>6}")
    print("(one line per round; median: of the rates, and of the rounds' ratios)")
    for stage, n in sizes.items():
        for r in range(rounds):
            one, two = rates[(stage, 1)][r], rates[(stage, 2)][r]
            print(f"{labels[stage]:24} {n:7} {one:12,.1f} {two:14,.1f} {two / one:6.2f}")
        # The ratio of each interleaved pair: the two ran minutes apart, not rounds apart.
        paired = zip(rates[(stage, 1)], rates[(stage, 2)], strict=True)
        ratio = statistics.median(two / one for one, two in paired)
        one_m = statistics.median(rates[(stage, 1)])
        two_m = statistics.median(rates[(stage, 2)])
        print(f"{'  median':24} {'':7} {one_m:12,.1f} {two_m:14,.1f} {ratio:6.2f}")
        one_c = statistics.median(per_cpu[(stage, 1)])
        two_c = statistics.median(per_cpu[(stage, 2)])
        print(
            f"{'  per CPU-second, median':24} {'':7} {one_c:12,.1f} {two_c:14,.1f} "
            f"{two_c / one_c:6.2f}  (the workers' CPU time, whoever else ran)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved 1/2-process pairs")
    parser.add_argument("--n-pii", type=int, default=4000, help="events, PII + language stage")
    parser.add_argument("--n-full", type=int, default=300, help="events, whole default stack")
    parser.add_argument("--broker", choices=[k.value for k in BrokerKind], default="tansu")
    args = parser.parse_args()
    configure_logging("json", "warning")
    sizes = {"input-guard": args.n_pii, "full-stack": args.n_full}
    asyncio.run(
        run(args.rounds, {k: v for k, v in sizes.items() if v > 0}, BrokerKind(args.broker))
    )


if __name__ == "__main__":
    main()
