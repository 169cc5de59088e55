"""Debian's Prometheus and Alertmanager on 127.0.0.1, for tests that need the real servers.

    with AlertReceiver() as receiver, Alertmanager(tmp / "am", receiver.url) as am, Prometheus(
        tmp / "prom", [static_job("driftwatch", ["127.0.0.1:9308"])], alertmanager=am.address
    ) as prom:
        prom.wait_for_target("driftwatch", timeout=30)
        prom.query('up{job="driftwatch"}')  # -> [{"metric": {...}, "value": [ts, "1"]}]

Every server binds 127.0.0.1 on a free port, keeps its data in the given directory, writes its
log there (``log_tail()`` for assertion messages) and is stopped by PID on exit: terminate, then
kill if it does not exit in time. Nothing here imports pytest: callers decide whether a missing
binary skips or fails (see ``tests.conftest.require``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from driftwatch.cli.localbroker import free_port
from tests.waiting import wait_for

__all__ = [
    "AlertReceiver",
    "Alertmanager",
    "Prometheus",
    "StackError",
    "alertmanager_binary",
    "prometheus_binary",
    "rules_with_for",
    "static_job",
]

INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager (or make system-deps as root)"


class StackError(RuntimeError):
    """A server did not start, answered with an error, or a wait timed out."""


def prometheus_binary() -> str | None:
    """Path of the ``prometheus`` server binary, or None when it is not installed."""
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    """Path of Alertmanager: Debian names it ``prometheus-alertmanager``; upstream ``alertmanager``."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def static_job(name: str, targets: Sequence[str], **extra: Any) -> dict[str, Any]:
    """A scrape config for ``targets`` ("host:port") under ``job=name``."""
    return {"job_name": name, "static_configs": [{"targets": list(targets)}], **extra}


def rules_with_for(source: Path, destination: Path, duration: str) -> Path:
    """Copy a rules file with every ``for:`` set to ``duration``; expressions and the rest unchanged."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = duration
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return destination


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class _Server:
    """A server process on 127.0.0.1:PORT, ready once ``GET /-/ready`` answers 200."""

    name = "server"
    start_attempts = 3  # a free port can be taken between choosing it and the server binding it

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.log_path = workdir / f"{self.name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _args(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, self.start_attempts + 1):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                log.write(f"--- start attempt {attempt} on {self.address}\n".encode())
                log.flush()
                self._process = subprocess.Popen(
                    [self.binary, *self._args()],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                )
            if self._wait_ready(timeout):
                return self
            in_use = "address already in use" in self.log_tail().lower()
            self.stop()
            if not in_use:
                break
        raise StackError(f"{self.name} did not become ready on {self.address}:\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return f"({self.name}: no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.name} log ({self.log_path}), last {lines} lines:\n{tail}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Alertmanager(_Server):
    """Alertmanager routing every alert to one webhook, grouped by alertname and model, within ~1s."""

    name = "alertmanager"

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        binary: str | None = None,
        group_by: Sequence[str] = ("alertname", "model"),
        send_resolved: bool = True,
    ) -> None:
        found = binary or alertmanager_binary()
        if found is None:
            raise StackError(f"Alertmanager is not installed: {INSTALL_HINT}")
        super().__init__(found, workdir)
        self.config_path = workdir / "alertmanager.yml"
        self.config: dict[str, Any] = {
            "route": {
                "receiver": "test",
                "group_by": list(group_by),
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "test", "webhook_configs": [{"url": webhook_url, "send_resolved": send_resolved}]}
            ],
        }

    def _args(self) -> list[str]:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        return [
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # empty: no gossip cluster, no other port
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (API v2)."""
        result: list[dict[str, Any]] = _get_json(f"{self.url}/api/v2/alerts")
        return result


class Prometheus(_Server):
    """Prometheus scraping ``scrape_configs`` and evaluating ``rule_files`` every second."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        scrape_configs: Iterable[dict[str, Any]],
        rule_files: Iterable[Path] = (),
        alertmanager: str | None = None,
        binary: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
    ) -> None:
        found = binary or prometheus_binary()
        if found is None:
            raise StackError(f"Prometheus is not installed: {INSTALL_HINT}")
        super().__init__(found, workdir)
        self.config_path = workdir / "prometheus.yml"
        self.config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": list(scrape_configs),
        }
        if alertmanager is not None:
            self.config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}

    def _args(self) -> list[str]:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        return [
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--rules.alert.resend-delay=1s",
        ]

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a GET on the HTTP API (``path`` like "query" or "targets")."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            body = _get_json(f"{self.url}/api/v1/{path}{query}", timeout=10)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise StackError(f"Prometheus API {path} {params}: HTTP {exc.code}: {detail}") from None
        if body.get("status") != "success":
            raise StackError(f"Prometheus API {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Evaluate ``expr`` at ``at`` (default now) through /api/v1/query; return ``data.result``.

        A vector gives ``{"metric": {...}, "value": [ts, "v"]}`` per series, a range selector like
        ``up[5m]`` gives ``{"metric": {...}, "values": [[ts, "v"], ...]}``; a scalar or string comes
        back as one ``{"metric": {}, "value": [ts, "v"]}``.
        """
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] in {"scalar", "string"}:
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts: ``{"labels", "annotations", "state", "activeAt", "value"}``."""
        result: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return result

    def wait_for_target(self, job: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until a target of ``job`` has been scraped successfully; return it from /api/v1/targets."""
        seen: list[dict[str, Any]] = []

        def healthy() -> dict[str, Any] | None:
            seen[:] = [t for t in self.targets() if t["labels"].get("job") == job]
            return next((target for target in seen if target["health"] == "up"), None)

        found = wait_for(
            healthy,
            timeout,
            lambda: f"a target of job {job!r} scraped successfully: {seen}",
            interval=0.2,
            error=StackError,
        )
        assert found is not None
        return found

    def wait_for(
        self, expr: str, timeout: float = 30.0, until: Callable[[list[dict[str, Any]]], bool] = bool
    ) -> list[dict[str, Any]]:
        """Poll ``query(expr)`` until ``until(result)`` holds (default: non-empty); return the result."""
        result: list[dict[str, Any]] = []

        def reached() -> bool:
            result[:] = self.query(expr)
            return until(result)

        wait_for(
            reached,
            timeout,
            lambda: f"{expr!r} to reach the expected result; last: {result}",
            interval=0.2,
            error=StackError,
        )
        return result


class AlertReceiver:
    """An HTTP server on 127.0.0.1 recording the JSON of every POST (Alertmanager's webhook)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.received.append({"path": self.path, "json": json.loads(body) if body else None})
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every payload received so far, in arrival order."""
        with self._changed:
            return [alert for post in self.received for alert in (post["json"] or {}).get("alerts", [])]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Wait for a received alert matching ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for alert in self.alerts():
                    if predicate(alert):
                        return alert
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StackError(f"no matching alert in {timeout:.0f}s; received {self.received}")
                self._changed.wait(remaining)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
