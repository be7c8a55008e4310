"""Real HTTP receivers on loopback, scripted per path: status sequences, hangs, Retry-After."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    status: int  # what the receiver answered (a client that timed out did not see it)


@dataclass
class Script:
    """What a path answers: `statuses` in turn (the last repeats); `hang_s` before answering."""

    statuses: list[int] = field(default_factory=lambda: [204])
    hang_s: float = 0.0
    retry_after: str | None = None


class Receiver:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.received: list[Received] = []
        self._calls: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    script = receiver.scripts.get(self.path, Script())
                    n = receiver._calls[self.path]
                    receiver._calls[self.path] += 1
                    status = script.statuses[min(n, len(script.statuses) - 1)]
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                            status,
                        )
                    )
                if script.hang_s:
                    time.sleep(script.hang_s)
                try:
                    self.send_response(status)
                    if script.retry_after is not None:
                        self.send_header("retry-after", script.retry_after)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (timeout) and closed the connection

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def delivered_ids(self, path: str) -> set[str]:
        """The webhook-ids this receiver answered with a 2xx at `path`: delivered, as a
        receiver sees it."""
        return {r.headers["webhook-id"] for r in self.at(path) if 200 <= r.status < 300}

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
