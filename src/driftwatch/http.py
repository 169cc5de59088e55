"""The daemon's HTTP face: /metrics, /healthz, /readyz and a read-only JSON API.

``/healthz`` answers 200 while the process serves requests. ``/readyz`` answers
200 only when the config is loaded, the references are profiled, the broker
answered the last poll and no partition is stalled behind a batch that cannot be
decoded; otherwise 503 with the reasons, so an orchestrator
keeps traffic and rollouts away from a replica that cannot see Kafka.
``/api/models`` and ``/api/models/<name>`` return the latest check results;
``/reports/<name>/latest.html`` is Evidently's HTML report of the latest check.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from driftwatch.metrics import Metrics

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)

Readiness = Callable[[], list[str]]  # the reasons the daemon is not ready; empty when ready
Results = Callable[[], dict[str, dict[str, Any]]]
Reports = Callable[[str], str | None]  # the HTML report of a model's latest check; None when there is none


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        readiness: Readiness,
        results: Results,
        reports: Reports | None = None,
    ) -> None:
        handler = _handler(metrics, readiness, results, reports)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(
                f"http: cannot listen on {host}:{port} ({exc.strerror}); "
                "set http.port to a free port or stop the process using it"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="driftwatch-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
        self._server.server_close()


def _handler(
    metrics: Metrics, readiness: Readiness, results: Results, reports: Reports | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "driftwatch"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                problems = readiness()
                self._json(503 if problems else 200, {"ready": not problems, "problems": problems})
            elif path == "/api/models":
                self._json(200, results())
            elif path.startswith("/api/models/"):
                name = unquote(path.removeprefix("/api/models/"))
                latest = results()
                if name in latest:
                    self._json(200, latest[name])
                else:
                    self._json(404, {"error": f"no model named {name!r}", "models": sorted(latest)})
            elif reports is not None and path.startswith("/reports/") and path.endswith("/latest.html"):
                self._report(unquote(path.removeprefix("/reports/").removesuffix("/latest.html")))
            else:
                endpoints = ["/metrics", "/healthz", "/readyz", "/api/models", "/reports/<model>/latest.html"]
                self._json(404, {"error": "not found", "endpoints": endpoints})

        def _report(self, name: str) -> None:
            assert reports is not None
            models = results()
            if name not in models:
                self._json(404, {"error": f"no model named {name!r}", "models": sorted(models)})
                return
            try:
                html = reports(name)
            except Exception as exc:  # a drill-down aid must never take the server down
                log.exception("report of model %s failed", name)
                self._json(500, {"error": f"report generation failed: {exc}"})
                return
            if html is None:
                self._json(
                    404, {"error": f"model {name!r} has not been checked yet; retry after its first check"}
                )
            else:
                self._send(200, html.encode(), "text/html; charset=utf-8")

        def _json(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body, indent=1, allow_nan=False).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
