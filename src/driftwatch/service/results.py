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


Key = tuple[str, str, str]
"""(model, scope key, baseline) of a result: ``(model, "", "")`` is the whole model's."""


class LatestResults:
    """Thread-safe map of (model, scope, baseline) -> its latest `CheckResult`. The whole model's
    result is under scope ``""`` and baseline ``""``; a scoped model also has one per live segment or
    version scope and per rolling-baseline comparison (`CheckResult.scope`, `CheckResult.baseline`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[Key, CheckResult] = {}

    def put(self, result: CheckResult) -> None:
        with self._lock:
            self._results[(result.model, result.scope, result.baseline)] = result

    def get(self, model: str, scope: str = "", baseline: str = "") -> CheckResult | None:
        with self._lock:
            return self._results.get((model, scope, baseline))

    def remove(self, model: str) -> None:
        """Forget every result of ``model`` (every scope)."""
        with self._lock:
            for key in [k for k in self._results if k[0] == model]:
                del self._results[key]

    def remove_scope(self, model: str, scope: str) -> None:
        """Forget the results of one scope of ``model`` (both baselines): the scope left."""
        with self._lock:
            for key in [k for k in self._results if k[0] == model and k[1] == scope]:
                del self._results[key]

    def snapshot(self) -> dict[str, CheckResult]:
        """Every model's latest whole-model result, as of now (a copy: later checks do not change it)."""
        with self._lock:
            return {
                model: r for (model, scope, baseline), r in self._results.items() if not (scope or baseline)
            }

    def scoped(self, model: str) -> dict[tuple[str, str], CheckResult]:
        """The latest results of ``model``'s scopes and baselines: (scope, baseline) -> result, the
        whole model's included under ``("", "")``."""
        with self._lock:
            return {(k[1], k[2]): r for k, r in self._results.items() if k[0] == model}

    def everything(self) -> list[CheckResult]:
        """Every latest result of every model and scope, in (model, scope, baseline) order."""
        with self._lock:
            return [self._results[key] for key in sorted(self._results)]
