"""Benchmark: notifier deliveries per second to local receivers, with 1 and with 20 endpoints.

    python bench/notify.py [--n 3000]

Deliveries (real Responses of the PII stage, ~2 KB each) are published to the notifications
topic of an embedded Tansu broker; the clock runs from the first attempt to the last delivery.
The receivers are a minimal HTTP/1.1 server (keep-alive, 204) in a separate process, on
loopback ports. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notify.test_notifier import deliveries  # noqa: E402
from tests.stream.helpers import produce  # noqa: E402
from worker.logging import configure_logging  # noqa: E402
from worker.notify.client import WebhookClient  # noqa: E402
from worker.notify.notifier import Notifier  # noqa: E402
from worker.notify.signing import generate_secret  # noqa: E402
from worker.settings import Settings  # noqa: E402
from worker.stream.broker import EmbeddedBroker, free_port  # noqa: E402
from worker.stream.topics import ensure_topics  # noqa: E402

SERVER = textwrap.dedent("""
    import asyncio, sys

    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\\r\\nContent-Length: 0\\r\\n\\r\\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        servers = [await asyncio.start_server(serve, "127.0.0.1", int(p)) for p in sys.argv[1:]]
        print("ready", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())
""")


async def run_case(bootstrap: str, endpoints: int, n: int) -> float:
    ports = [free_port() for _ in range(endpoints)]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, *map(str, ports), stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    await server.stdout.readline()  # "ready"
    try:
        tag = f"bench{endpoints}"
        os.environ["BENCH_WEBHOOK_SECRET"] = generate_secret()
        settings = Settings.model_validate(
            {
                "notifications_topic": f"{tag}.notifications",
                "notify_retry_topic": f"{tag}.retry",
                "notify_dead_topic": f"{tag}.dead",
                "notify_group_id": f"{tag}-notifier",
                "notify_allow_networks": ["127.0.0.1/32"],
                "webhook_default_secret": "env:BENCH_WEBHOOK_SECRET",
            }
        )
        await ensure_topics(bootstrap, Notifier.topic_specs(settings))
        urls = [f"http://127.0.0.1:{p}/hook" for p in ports]
        items = await deliveries(urls, n_each=max(1, n // endpoints))
        await produce(
            bootstrap,
            settings.notifications_topic,
            [d.model_dump_json().encode() for d in items],
            [d.id.encode() for d in items],
        )
        notifier = Notifier(settings, bootstrap, WebhookClient(settings))
        stop = asyncio.Event()
        task = asyncio.create_task(notifier.run(stop))
        # Polls the notifier's counters; the 1 ms wake-ups are part of the measurement.
        while sum(notifier.stats.attempts.values()) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        while notifier.stats.delivered < len(items):
            await asyncio.sleep(0.001)
            if task.done():
                task.result()
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return len(items) / elapsed
    finally:
        server.terminate()
        await server.wait()


async def run(n: int) -> None:
    async with EmbeddedBroker() as broker:
        one = await run_case(broker.bootstrap_servers, 1, n)
        twenty = await run_case(broker.bootstrap_servers, 20, n)
    print(
        f"notifier, {n} signed deliveries of the PII stage's Responses, embedded Tansu, "
        "loopback receivers"
    )
    print(f"{'endpoints':>10} {'deliveries/s':>14}")
    print(f"{1:>10} {one:14,.0f}")
    print(f"{20:>10} {twenty:14,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    configure_logging("json", "warning")
    asyncio.run(run(args.n))


if __name__ == "__main__":
    main()
