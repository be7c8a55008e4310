"""A webhook receiver for Protect notifications: verify, deduplicate, acknowledge.

    python examples/webhook_receiver.py --port 8080 --secret whsec_...

(or set WEBHOOK_SECRET instead of --secret: command lines are visible to other local users).
Every POST is verified (signature and timestamp); a bad one gets 401 and is not processed. A
good one prints one line (webhook-id, status, stage, trace id) and gets 204. Deliveries are
at-least-once, so a retry of a delivery already processed (same webhook-id) is acknowledged
with 204 again but not processed twice.

Only the standard library and `worker.notify.verify` are used.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from worker.errors import ProtectError
from worker.notify import verify
from worker.notify.signing import WebhookVerificationError

# Larger bodies are refused before being read: a Response carries the event's text, and the
# worker dead-letters events over 1 MiB, so a few MiB bounds any genuine delivery.
MAX_BODY_BYTES = 8 * 1024 * 1024

# How many webhook-ids are remembered for deduplication. Retries of one delivery span ~28 h
# (the longest schedule); a real receiver would keep ids in its database for that long.
SEEN_IDS_KEPT = 100_000


class SeenIds:
    """The webhook-ids already processed, bounded (oldest forgotten first), thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, webhook_id: str) -> bool:
        """True the first time an id is seen: only that caller processes the delivery."""
        with self._lock:
            if webhook_id in self._ids:
                return False
            self._ids[webhook_id] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return True

    def release(self, webhook_id: str) -> None:
        """Forget an id whose processing failed, so the sender's retry is processed."""
        with self._lock:
            self._ids.pop(webhook_id, None)


# Requests are handled on several threads; print() writes the text and the newline separately,
# so without a lock two deliveries' lines can merge into one.
_OUTPUT = threading.Lock()


def say(line: str, *, error: bool = False) -> None:
    with _OUTPUT:
        stream = sys.stderr if error else sys.stdout
        stream.write(line + "\n")
        stream.flush()


def process(webhook_id: str, delivery: Any) -> None:
    """Where a real receiver acts on the notification (alert, ticket, block a user, ...)."""
    # The body is the Response; accept it wrapped under "response" too.
    response = delivery.get("response", delivery) if isinstance(delivery, dict) else {}
    stage = response.get("stage_metadata") or {}
    trace = response.get("trace_metadata") or {}
    say(
        f"{webhook_id} status={response.get('status')} stage={stage.get('stage_name')} "
        f"trace={trace.get('id')}"
    )


def make_handler(secret: str, seen: SeenIds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("content-length", ""))
            except ValueError:
                self._answer(HTTPStatus.LENGTH_REQUIRED)
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return
            body = self.rfile.read(length)
            try:
                # The raw bytes, not re-serialised JSON: the signature covers them exactly.
                delivery = verify(dict(self.headers.items()), body, secret)
            except WebhookVerificationError as error:
                say(f"refused: {error.reason}: {error}", error=True)
                status = (
                    HTTPStatus.BAD_REQUEST
                    if error.reason == "invalid_body"
                    else HTTPStatus.UNAUTHORIZED
                )
                self._answer(status, str(error))
                return
            webhook_id = self.headers["webhook-id"]
            if not seen.claim(webhook_id):
                say(f"{webhook_id} duplicate (already processed)")
                self._answer(HTTPStatus.NO_CONTENT)
                return
            try:
                process(webhook_id, delivery)
            except Exception:
                seen.release(webhook_id)
                # 500: the sender retries later with the same webhook-id.
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR)
                raise
            self._answer(HTTPStatus.NO_CONTENT)

        def _answer(self, status: HTTPStatus, text: str = "") -> None:
            payload = text.encode()
            self.send_response(status)
            if payload:
                self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            # The delivery lines are the log; http.server's access lines would double them.
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Verify, deduplicate and acknowledge Protect webhook deliveries."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--secret",
        default=os.environ.get("WEBHOOK_SECRET"),
        help="the subscription's secret (whsec_...); default: $WEBHOOK_SECRET",
    )
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("a secret is needed: --secret whsec_... or WEBHOOK_SECRET")
    try:
        # Check the secret now rather than on the first delivery: an empty request fails
        # verification, an unusable secret fails before that with a ConfigurationError.
        verify({}, b"", args.secret)
    except WebhookVerificationError:
        pass
    except ProtectError as error:
        parser.error(str(error))
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(args.secret, SeenIds(SEEN_IDS_KEPT))
    )
    # With --port 0 the port is only known now; tests and scripts read it from this line.
    say(f"listening on http://{args.host}:{server.server_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
