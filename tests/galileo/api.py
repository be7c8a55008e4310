"""A loopback stand-in for Galileo's hosted Protect API, answered by our engine.

Galileo's SDKs are run unmodified against it: only their configuration is pointed here (they
would otherwise log in to Galileo's console first). So the bodies they send are built by their
own code, and our answers are parsed by their own code. It serves the two routes the SDK calls
under test use: `POST /protect/invoke` and `POST /projects/{project_id}/stages` (create_stage).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from worker.contract.request import Request
from worker.contract.stage import StageDefinition
from worker.contract.validation import describe
from worker.errors import StageDefinitionError
from worker.runtime import Protect

_STAGES = re.compile(r"^/projects/(?P<project_id>[0-9a-fA-F-]{36})/stages$")


@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any]
    status: int
    answer: Any


class GalileoApi:
    """`with GalileoApi(protect) as api:` ... `api.url`, `api.calls`."""

    def __init__(self, protect: Protect) -> None:
        self.protect = protect
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                status, answer = api._answer(self.path, body)
                with api._lock:
                    api.calls.append(Call(self.path, body, status, answer))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def at(self, path_suffix: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.path.endswith(path_suffix)]

    def bodies(self, path_suffix: str) -> list[dict[str, Any]]:
        return [call.body for call in self.at(path_suffix)]

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        # 422 with a `detail`, as Galileo's API answers a body it cannot validate.
        try:
            if path == "/protect/invoke":
                request = Request.model_validate(body)
                response = asyncio.run(self.protect.ainvoke(request))
                return 200, response.model_dump(mode="json")
            stages = _STAGES.match(path)
            if stages:
                definition = StageDefinition.model_validate(
                    {**body, "project_id": stages["project_id"]}
                )
                stage = self.protect.stages.apply(definition).stage
                # Galileo's StageDB fields (galileo-protect parses them as its StageResponse).
                return 200, {
                    **stage.model_dump(
                        mode="json",
                        include={"id", "name", "project_id", "description", "type", "paused"},
                    ),
                    "version": stage.version,
                }
        except ValidationError as exc:
            return 422, {"detail": describe(exc)}
        except StageDefinitionError as exc:
            return 422, {"detail": str(exc)}
        return 404, {"detail": f"no route {path}"}

    def __enter__(self) -> GalileoApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
