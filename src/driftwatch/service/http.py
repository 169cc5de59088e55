"""The daemon's HTTP face: /metrics, /healthz, /readyz and a read-only JSON API.

``/healthz`` answers 200 while the process serves requests. ``/readyz`` answers
200 only when the config is loaded, the references are profiled, the broker
answered the last poll and no partition is stalled behind a batch that cannot be
decoded; otherwise 503 with the reasons, so an orchestrator
keeps traffic and rollouts away from a replica that cannot see Kafka.
``/api/models`` and ``/api/models/<name>`` return the latest check results, and
``/api/models/<name>/history`` the model's check history (``?from=&to=&check=&scope=&limit=``);
``/reports/<name>/latest.html`` is Evidently's HTML report of the latest check.

With ``http.web_config_file`` (exporter-toolkit's web config, see driftwatch.webconfig) the server
speaks TLS, optionally verifies client certificates, and asks for basic auth: a request without valid
credentials gets 401 with ``WWW-Authenticate: Basic realm="driftwatch"`` and an error, never data.
``http.api`` and ``http.reports`` can turn /api and /reports off (404) or require credentials;
``http.probes`` decides whether /healthz and /readyz need them too. A changed web config file is read
again (see `LiveAccess`). The TLS handshake runs in the
request's thread, so a slow or broken client never holds up the others.

GET and HEAD are served; any other method gets a JSON 405 naming them, and every error is JSON.
The ``Server`` header names driftwatch and its version only. A client that goes away mid-request
is logged at debug level, through the logging module, never as a traceback on stderr.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from driftwatch import __version__
from driftwatch.errors import ReportUnavailableError
from driftwatch.service.metrics import Metrics
from driftwatch.webconfig import AUTH_REALM, BasicAuth, WebAccess, WebConfigError, load_web_config

__all__ = ["HttpServer", "LoggingHTTPServer", "ReportUnavailableError"]

log = logging.getLogger(__name__)

Readiness = Callable[[], list[str]]  # the reasons the daemon is not ready; empty when ready
Results = Callable[[], dict[str, dict[str, Any]]]
Reports = Callable[[str], str | None]  # the HTML report of a model's latest check; None when there is none
# a model's check history for the query parameters given: (HTTP status, JSON body)
History = Callable[[str, dict[str, list[str]]], tuple[int, object]]

ALLOWED_METHODS = ("GET", "HEAD")
HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to finish the TLS handshake
RELOAD_CHECK = 1.0  # seconds between looks at the web config file's (and its TLS files') modification


class LoggingHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose request failures go through the logging module (see handle_error)."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None  # set before serving: every accepted connection speaks TLS
    live: LiveAccess | None = None  # re-reads the web config file when it changes

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.live is not None:
            self.live.refresh()  # new certificates take effect from the next connection
        if self.tls is None:
            return sock, address
        # no handshake here, in the accepting thread: finish_request does it in the request's thread
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:  # plain HTTP, an unknown CA, no client certificate...
                log.debug("http: TLS handshake with %s failed: %s", client_address[0], exc)
                return
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that disconnected is routine (a scraper timed out, a browser tab closed): a debug line.
        Anything else is a bug, logged with its traceback through the logging module, never on raw stderr."""
        exc = sys.exc_info()[1]
        # over TLS a client that hung up mid-answer surfaces as an SSL EOF, not a ConnectionError
        if isinstance(
            exc, ConnectionError | TimeoutError | socket.timeout | ssl.SSLEOFError | ssl.SSLZeroReturnError
        ):
            log.debug("http: client %s went away: %s", client_address[0], exc)
        else:
            log.error("http: request from %s failed", client_address[0], exc_info=exc)


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        readiness: Readiness,
        results: Results,
        reports: Reports | None = None,
        access: WebAccess | None = None,
        history: History | None = None,
    ) -> None:
        access = access or WebAccess()
        tls = access.web.tls if access.web is not None else None
        context = tls.context() if tls is not None else None  # checked by load_settings: loads here
        live = LiveAccess(access, context)
        handler = _handler(metrics, readiness, results, reports, live, history)
        try:
            self._server = LoggingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(
                f"http: cannot listen on {host}:{port} ({exc.strerror}); "
                "set http.port to a free port or stop the process using it"
            ) from None
        self._server.tls = context
        self._server.live = live
        live.server = self._server
        self.scheme = "https" if context is not None else "http"
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


class LiveAccess:
    """The web config in force. Its file and the TLS files it names are looked at (stat only) at most
    once a second, before a connection is served; when one changed, the file is read again, as
    exporter-toolkit does, so rotated certificates and changed users take effect without a restart.
    A file that no longer loads is logged as an error and the previous config stays in force;
    switching between TLS and plain HTTP takes a restart."""

    def __init__(self, access: WebAccess, context: ssl.SSLContext | None) -> None:
        self.access = access
        self.auth = BasicAuth(access.users)
        self.headers = dict(access.web.headers) if access.web is not None else {}
        self.server: LoggingHTTPServer | None = None
        self._tls = context is not None
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._stamps = self._stat()

    def _stat(self) -> tuple[tuple[int, int, int] | None, ...]:
        web = self.access.web
        if web is None:
            return ()
        files = [web.path]
        if web.tls is not None:
            files += [web.tls.cert_file, web.tls.key_file]
            files += [web.tls.client_ca_file] if web.tls.client_ca_file is not None else []
        stamps: list[tuple[int, int, int] | None] = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    def refresh(self) -> None:
        web = self.access.web
        if web is None or time.monotonic() - self._checked < RELOAD_CHECK:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamps = self._stat()
            if stamps == self._stamps:
                return
            self._stamps = stamps
            try:
                fresh = load_web_config(web.path)
                context = fresh.tls.context() if fresh.tls is not None else None
            except WebConfigError as exc:
                log.error(
                    "http: %s changed and is invalid; the previous web config stays in force: %s",
                    web.path,
                    "; ".join(exc.problems),
                )
                return
            except (ssl.SSLError, OSError) as exc:
                log.error(
                    "http: the TLS files of %s changed and do not load (%s); the previous ones stay in force",
                    web.path,
                    exc,
                )
                return
            if (context is not None) != self._tls:
                log.error(
                    "http: %s changed between TLS and plain HTTP, which takes a restart; the previous "
                    "web config stays in force",
                    web.path,
                )
                return
            self.access = replace(self.access, web=fresh)
            self.auth = BasicAuth(fresh.users)
            self.headers = dict(fresh.headers)
            if self.server is not None:
                self.server.tls = context
            log.info("http: reloaded %s", web.path)


def _handler(
    metrics: Metrics,
    readiness: Readiness,
    results: Results,
    reports: Reports | None,
    live: LiveAccess,
    history: History | None = None,
) -> type[BaseHTTPRequestHandler]:
    paths = ["/metrics", "/healthz", "/readyz", "/api/models"]
    paths += ["/api/models/<model>/history"] if history is not None else []
    paths += ["/reports/<model>/latest.html"]
    # off depends on http.api/reports only, which a reload does not change
    endpoints = [endpoint for endpoint in paths if live.access.rule(endpoint) != "off"]

    class Handler(BaseHTTPRequestHandler):
        server_version = f"driftwatch/{__version__}"

        def version_string(self) -> str:
            return self.server_version  # not the Python version, which only helps an attacker

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            rule = live.access.rule(path)  # the users may change with the web config file
            if self._refused(rule):
                return
            if rule == "off":
                self._json(404, {"error": "not found", "endpoints": endpoints})
            elif path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                problems = readiness()
                self._json(503 if problems else 200, {"ready": not problems, "problems": problems})
            elif path == "/api/models":
                self._json(200, results())
            elif history is not None and path.startswith("/api/models/") and path.endswith("/history"):
                name = unquote(path.removeprefix("/api/models/").removesuffix("/history"))
                query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
                self._json(*history(name, query))
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
                self._json(404, {"error": "not found", "endpoints": endpoints})

        def do_HEAD(self) -> None:
            self.do_GET()  # the same status and headers; `_send` leaves out the body

        def __getattr__(self, name: str) -> Callable[[], None]:
            # BaseHTTPRequestHandler looks up do_<METHOD> and answers an HTML 501 when it is missing
            if name.startswith("do_"):
                return self._not_allowed
            raise AttributeError(name)

        def _refused(self, rule: str) -> bool:
            """Answer 401, and say so, when the path needs credentials and the request has no valid ones."""
            live.refresh()  # on a kept-alive connection too
            if rule != "auth" or live.auth.check(self.headers.get("Authorization")):
                return False
            self._json(
                401,
                {"error": "authentication required: give a user and password of the web config"},
                {"WWW-Authenticate": f'Basic realm="{AUTH_REALM}"'},
            )
            return True

        def _not_allowed(self) -> None:
            if self._refused(live.access.rule(urlsplit(self.path).path.rstrip("/") or "/")):
                return
            self._json(
                405,
                {"error": f"method {self.command} is not allowed", "allow": list(ALLOWED_METHODS)},
                {"Allow": ", ".join(ALLOWED_METHODS)},
            )

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Malformed requests get JSON too (the standard library answers HTML)."""
            self.log_error("code %d, message %s", code, message)
            self.close_connection = True
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "error"
            self._json(code, {"error": message or phrase}, {"Connection": "close"})

        def _report(self, name: str) -> None:
            assert reports is not None
            models = results()
            if name not in models:
                self._json(404, {"error": f"no model named {name!r}", "models": sorted(models)})
                return
            try:
                html = reports(name)
            except ReportUnavailableError as exc:  # no data to report on: the reason, not a traceback
                self._json(409, {"error": str(exc), "model": name})
                return
            except Exception as exc:  # a drill-down aid must never take the server down
                log.exception("report of model %s failed", name)
                self._json(500, {"error": f"report generation failed: {exc}"})
                return
            if html is None:
                self._json(
                    409,
                    {
                        "error": f"no check yet: model {name!r} has not been checked yet; "
                        "retry after its first check",
                        "model": name,
                    },
                )
            else:
                self._send(200, html.encode(), "text/html; charset=utf-8")

        def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            text = json.dumps(body, indent=1, allow_nan=False).encode()
            self._send(status, text, "application/json", headers)

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**live.headers, **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
