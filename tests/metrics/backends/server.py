"""A real HTTP model server on loopback speaking Text Embeddings Inference's `/predict`.

Its "model" is a cue-word classifier in plain Python (a word in the text moves the text to that
word's label), so expected answers are known; what is under test is the client: the protocol,
batching, pairs, headers, and how failures surface. Scripted per path like the webhook receivers:
`/predict` answers TEI's list shape, `/predict-object` a `{label: score}` object per input,
`/broken` a status, `/garbage` a malformed body, `/slow` after a delay.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"[a-z]+")


def cue_distribution(
    text: str, labels: Sequence[str], cues: Mapping[str, Sequence[str]], default: str
) -> dict[str, float]:
    """Softmax over labels of (4 x cue words present) with a head start of 2 for `default`."""
    words = _WORD.findall(text.lower())
    logits = {label: (2.0 if label == default else 0.0) for label in labels}
    for label, cue_words in cues.items():
        logits[label] += 4.0 * sum(words.count(word) for word in cue_words)
    top = max(logits.values())
    exp = {label: math.exp(z - top) for label, z in logits.items()}
    total = sum(exp.values())
    return {label: value / total for label, value in exp.items()}


class ModelServer:
    def __init__(
        self,
        labels: Sequence[str],
        cues: Mapping[str, Sequence[str]],
        default: str,
        *,
        broken_status: int = 503,
        slow_s: float = 1.0,
    ) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with server._lock:
                    server.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._answer(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any]) -> None:
                if self.path == "/broken":
                    self._send(broken_status, b"")
                    return
                if self.path == "/garbage":
                    self._send(200, b'{"not": "predictions"}')
                    return
                if self.path == "/slow":
                    time.sleep(slow_s)
                texts = [
                    " ".join(item) if isinstance(item, list) else item for item in body["inputs"]
                ]
                distributions = [cue_distribution(t, labels, cues, default) for t in texts]
                answer: list[Any]
                if self.path == "/predict-object":
                    answer = distributions
                else:
                    answer = [
                        sorted(
                            ({"label": k, "score": v} for k, v in d.items()),
                            key=lambda entry: -entry["score"],
                        )
                        for d in distributions
                    ]
                self._send(200, json.dumps(answer).encode())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/predict") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = ["ModelServer", "cue_distribution"]
