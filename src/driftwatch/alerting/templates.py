"""Webhook payload templates: the generic event, Airflow, GitHub, Slack, or a user's JSON file.

Every template turns the same generic event (`driftwatch.alerting.events`) into the body
its receiver expects:

``generic``
    the event itself (``schemas/webhook-event.schema.json``).
``airflow``
    an Airflow REST API "trigger DAG run" body, ``{"dag_run_id", "conf", "note"}``,
    with the event as ``conf``. The run id is derived from the event id, so a
    retried delivery that Airflow already accepted answers 409, which counts as
    delivered.
``github``
    a repository dispatch body, ``{"event_type": "driftwatch-<transition>",
    "client_payload": {...}}`` with the ten fields GitHub allows (a segment or version scope's
    event names its scope in the summary, so it keeps those ten).
``slack``
    an incoming-webhook message, ``{"text": ...}``, for humans.
a path to a JSON file
    any JSON document whose strings may hold ``{{ field }}`` placeholders, where
    ``field`` is an event field or a dotted path into it (``result.rows``). A
    string that is exactly one placeholder becomes the field's JSON value (a
    number stays a number, a list a list); a placeholder inside a longer string
    is replaced by the value's text. Nothing is evaluated: no expressions, no
    filters, no code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftwatch.errors import TemplateError

__all__ = ["BUILTIN", "EVENT_FIELDS", "SCOPE_FIELDS", "Template", "TemplateError", "load_template"]

BUILTIN = ("generic", "airflow", "github", "slack")

# Top-level fields of the generic event; placeholders must start with one of them.
EVENT_FIELDS = frozenset(
    {
        "id",
        "type",
        "schema_version",
        "transition",
        "model",
        "model_version",
        "check",
        "summary",
        "occurred_at",
        "window_start",
        "window_end",
        "rows",
        "drift_share",
        "share_threshold",
        "drifted_features",
        "quality_breaches",
        "sent_by",
        "result",
        "segment",
        "baseline",
        "reason",
    }
)
# Present only in the events of a segment or version scope or of a rolling-baseline check (reason only
# in a retired one's): a placeholder naming them is null, or empty text, in the whole model's events.
SCOPE_FIELDS = frozenset({"segment", "baseline", "reason"})
_SCALAR_FIELDS = EVENT_FIELDS - {"drifted_features", "quality_breaches", "result"}

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")

_GITHUB_FIELDS = (
    "id",
    "model",
    "model_version",
    "check",
    "transition",
    "summary",
    "window_end",
    "drift_share",
    "drifted_features",
    "occurred_at",
)  # GitHub refuses a client_payload with more than 10 top-level properties

_SLACK_ICONS = {
    "firing": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "test": ":wave:",
    "new_version": ":new:",
}
_SLACK_RETIRED = ":heavy_minus_sign:"  # resolved because the scope is no longer watched, not by clean checks


@dataclass(frozen=True)
class Template:
    """How one target's body is made from an event, and what the receiver's answers mean."""

    name: str
    document: Any = None  # the parsed JSON of a user template
    headers: Mapping[str, str] = field(default_factory=dict)  # defaults; the target's own headers win
    delivered_statuses: frozenset[int] = frozenset()  # non-2xx statuses that mean "already accepted"

    def render(self, event: Mapping[str, Any]) -> bytes:
        body: Any
        if self.name == "generic":
            body = dict(event)
        elif self.name == "airflow":
            body = {"dag_run_id": f"driftwatch-{event['id']}", "conf": dict(event), "note": event["summary"]}
        elif self.name == "github":
            body = {
                "event_type": f"driftwatch-{event['transition']}",
                "client_payload": {name: event.get(name) for name in _GITHUB_FIELDS},
            }
        elif self.name == "slack":
            icon = _SLACK_ICONS.get(str(event["transition"]), ":bell:")
            if event.get("reason") == "retired":
                icon = _SLACK_RETIRED
            body = {"text": f"{icon} {event['summary']}"}
        else:
            body = _fill(self.document, event)
        return json.dumps(body, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def load_template(spec: str, base: Path | None = None) -> Template:
    """A built-in template by name, or a user template from a JSON file (relative to ``base``)."""
    if spec == "generic":
        return Template("generic")
    if spec == "airflow":
        return Template("airflow", delivered_statuses=frozenset({409}))
    if spec == "github":
        return Template(
            "github",
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        )
    if spec == "slack":
        return Template("slack")
    path = Path(spec)
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.suffix.lower() != ".json":
        raise TemplateError(
            f"{spec!r} is neither a built-in template ({', '.join(BUILTIN)}) nor a .json file; "
            "use one of the built-ins or the path of a JSON template file"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"template file {path} not found; check the path") from None
    except OSError as exc:
        raise TemplateError(f"cannot read template file {path} ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"template file {path} is not valid JSON ({exc}); fix the file") from None
    problems = sorted(set(_check_placeholders(document)))
    if problems:
        raise TemplateError(f"template file {path}: " + "; ".join(problems))
    return Template(str(path), document=document)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _check_placeholders(document: Any) -> list[str]:
    problems = []
    known = ", ".join(sorted(EVENT_FIELDS))
    for text in _strings(document):
        for match in _PLACEHOLDER.finditer(text):
            path = match.group(1)
            if not _PATH.match(path):
                problems.append(
                    f"placeholder {match.group(0)!r} is not a field name; only {{{{ field }}}} or "
                    "{{ field.subfield }} is allowed (no expressions or filters)"
                )
                continue
            head, _, rest = path.partition(".")
            if head not in EVENT_FIELDS:
                problems.append(f"placeholder {match.group(0)!r}: unknown field {head!r} (known: {known})")
            elif rest and head in _SCALAR_FIELDS:
                problems.append(f"placeholder {match.group(0)!r}: {head!r} is a plain value with no fields")
    return problems


def _lookup(event: Mapping[str, Any], path: str) -> Any:
    node: Any = event
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _fill(node: Any, event: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = _PLACEHOLDER.fullmatch(node)
        if whole is not None:
            return _lookup(event, whole.group(1))
        return _PLACEHOLDER.sub(lambda m: _text(_lookup(event, m.group(1))), node)
    if isinstance(node, dict):
        return {
            _PLACEHOLDER.sub(lambda m: _text(_lookup(event, m.group(1))), key): _fill(value, event)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_fill(item, event) for item in node]
    return node
