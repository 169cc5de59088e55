"""The latest check result of every model: what the metrics collector, the JSON API, the HTML report
and the webhooks read.

The runner puts a model's result here when its check has run; readers on other threads (a Prometheus
scrape, an HTTP request) take a consistent copy. A result replaces the model's previous one whole, so a
reader never sees half of one check and half of another; a model that is removed takes its results
with it, and with them its series on the next scrape.
"""

from __future__ import annotations

import threading

from driftwatch.checks.window import CheckResult

__all__ = ["LatestResults"]


class LatestResults:
    """Thread-safe map of model -> its latest `CheckResult`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, CheckResult] = {}

    def put(self, result: CheckResult) -> None:
        with self._lock:
            self._results[result.model] = result

    def get(self, model: str) -> CheckResult | None:
        with self._lock:
            return self._results.get(model)

    def remove(self, model: str) -> None:
        with self._lock:
            self._results.pop(model, None)

    def snapshot(self) -> dict[str, CheckResult]:
        """Every model's latest result, as of now (a copy: later checks do not change it)."""
        with self._lock:
            return dict(self._results)
