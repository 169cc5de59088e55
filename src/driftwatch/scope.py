"""Scopes: the slices of one model's traffic that get their own window, checks, alerts and series.

A scope is a model, optionally narrowed to one model version and/or one value of one segment
column. The model-wide scope is the one narrowed by nothing; its key is ``""``, so everything keyed
by model today keeps its key. A scope's *key* is a short text that names it inside its model (in
SQLite, the changelog, webhook idempotency material); its *labels* are the ``model_version`` and
``segment`` label values of its series, cut to a bounded length for Prometheus.

Keys escape with ``%XX`` every character that separates their parts (``%``, ``;``, ``=``, ``:``)
and every control character (so the ``\\x1f`` of `window_name` never appears inside a key), and a
segment column literally named ``v`` is written ``%76`` so that it cannot be read as the version
part: `Scope.parse` inverts `Scope.key` for every scope.

Decisions (issue 16, open questions of the design):

- A firing segment that leaves the top K is retired with a ``resolved`` transition carrying
  reason ``retired`` (its alert could otherwise never resolve).
- ``segments.per_version`` is off by default.
- A new model version is detected at ingest from every record (the distinct versions seen are
  tracked exactly, bounded to the 100 most recently seen), not from the sample, so a rare new version
  is announced at once.
- Champion/challenger comparisons are not stratified by segment: a non-random split between versions
  (a canary by country) confounds the difference; documented as a limitation.
- An empty ``model_version`` names no version (records carrying one count as unversioned), so no
  version scope has the empty label value of the model-wide scope.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Scope", "SegmentKey", "label_value", "window_name"]

SegmentKind = Literal["value", "missing", "other"]

_SEPARATOR = "\x1f"  # between a model name and a scope key in window names
_ROLLING = "@rolling"
_SPECIAL = frozenset("%;=:")
_ESCAPED = re.compile(r"%([0-9A-F]{2})")
_MAX_LABEL = 64
_KIND_RANK = {"value": 0, "missing": 1, "other": 2}


def _escape(text: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _SPECIAL or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def _escape_column(column: str) -> str:
    return "%76" if column == "v" else _escape(column)


def _unescape(text: str, key: str) -> str:
    if "%" not in text:
        return text
    if text.count("%") != len(_ESCAPED.findall(text)):
        raise ValueError(f"scope key {key!r}: a '%' not followed by two upper-case hex digits")
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


@functools.total_ordering
@dataclass(frozen=True)
class SegmentKey:
    """One segment of a column: a value (a canonical category key), the missing value, or ``other``
    (every value without a segment of its own)."""

    column: str
    value: str | None  # canonical key; None with kind "missing" / "other"
    kind: SegmentKind = "value"

    def __post_init__(self) -> None:
        if self.kind not in _KIND_RANK:
            raise ValueError(f"segment kind {self.kind!r}: one of value, missing, other")
        if (self.value is None) != (self.kind != "value"):
            raise ValueError(
                f"segment {self.column!r}: a value needs kind 'value', "
                f"and kinds 'missing'/'other' take no value (got {self.value!r}, {self.kind!r})"
            )

    @classmethod
    def of(cls, column: str, value: str | None) -> SegmentKey:
        """The segment of a canonical category key (None: missing)."""
        return cls(column, value) if value is not None else cls(column, None, "missing")

    @classmethod
    def other(cls, column: str) -> SegmentKey:
        return cls(column, None, "other")

    @property
    def label(self) -> str:
        """``country=DE``, ``country:missing``, ``country:other`` (not escaped: for people)."""
        return f"{self.column}={self.value}" if self.value is not None else f"{self.column}:{self.kind}"

    @property
    def key(self) -> str:
        """The escaped form used inside `Scope.key`."""
        column = _escape_column(self.column)
        return f"{column}={_escape(self.value)}" if self.value is not None else f"{column}:{self.kind}"

    def _order(self) -> tuple[str, int, str]:
        return (self.column, _KIND_RANK[self.kind], self.value or "")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SegmentKey):
            return NotImplemented
        return self._order() < other._order()


@functools.total_ordering
@dataclass(frozen=True)
class Scope:
    """A slice of one model's traffic: every record (``Scope(model)``), one version's, one segment's,
    or one segment's within one version. Ordered with the model-wide scope first."""

    model: str
    version: str | None = None  # None: every version
    segment: SegmentKey | None = None  # None: every segment

    def __post_init__(self) -> None:
        if self.version == "":
            raise ValueError("an empty model_version names no version: records with one are unversioned")

    @property
    def key(self) -> str:
        """``""`` | ``v=7`` | ``country=DE`` | ``v=7;country:other`` (values %-escaped)."""
        parts = []
        if self.version is not None:
            parts.append(f"v={_escape(self.version)}")
        if self.segment is not None:
            parts.append(self.segment.key)
        return ";".join(parts)

    @classmethod
    def parse(cls, model: str, key: str) -> Scope:
        """The scope of ``model`` whose `key` is ``key`` (ValueError when it is not one)."""
        if key == "":
            return cls(model)
        parts = key.split(";")
        version: str | None = None
        if parts[0].startswith("v="):
            version = _unescape(parts.pop(0)[2:], key)
        if len(parts) > 1:
            raise ValueError(f"scope key {key!r}: at most a version and one segment")
        segment = None
        if parts:
            part = parts[0]
            cut = min((i for i in (part.find("="), part.find(":")) if i >= 0), default=-1)
            if cut < 0:
                raise ValueError(f"scope key {key!r}: {part!r} is neither column=value nor column:kind")
            column = _unescape(part[:cut], key)
            rest = part[cut + 1 :]
            if part[cut] == "=":
                segment = SegmentKey(column, _unescape(rest, key))
            elif rest in ("missing", "other"):
                segment = SegmentKey(column, None, "missing" if rest == "missing" else "other")
            else:
                raise ValueError(f"scope key {key!r}: segment kind {rest!r}, not missing or other")
        scope = cls(model, version, segment)
        if scope.key != key:  # e.g. "%41" for "A": one scope, one key
            raise ValueError(f"scope key {key!r} is not canonical (expected {scope.key!r})")
        return scope

    @property
    def whole(self) -> bool:
        """The model-wide scope (key ``""``)."""
        return self.version is None and self.segment is None

    def labels(self) -> tuple[str, str]:
        """The (``model_version``, ``segment``) label values of the scope's series; ("", "") whole."""
        version = "" if self.version is None else label_value(self.version)
        segment = "" if self.segment is None else label_value(self.segment.label)
        return version, segment

    def _order(self) -> tuple[bool, str, bool, tuple[str, int, str]]:
        segment = self.segment._order() if self.segment is not None else ("", 0, "")
        return (self.version is not None, self.version or "", self.segment is not None, segment)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return (self.model, self._order()) < (other.model, other._order())


def window_name(scope: Scope, rolling: bool = False) -> str:
    """The name a scope's window (or its rolling baseline's) is stored under in SQLite and the
    changelog: ``credit-risk`` (the model-wide window, as today), ``credit-risk\\x1fcountry=DE``,
    ``credit-risk\\x1f\\x1f@rolling`` (the model-wide rolling baseline)."""
    if scope.whole and not rolling:
        return scope.model
    name = f"{scope.model}{_SEPARATOR}{scope.key}"
    return f"{name}{_SEPARATOR}{_ROLLING}" if rolling else name


def label_value(text: str) -> str:
    """``text`` as a Prometheus label value: backslashes and control characters escaped (``\\\\``,
    ``\\x0a``), at most 64 characters; a longer text is cut and ends with ``~`` and 6 hex digits of
    a hash of the whole text, so two long values sharing a prefix keep distinct labels."""
    escaped = "".join(
        "\\\\" if c == "\\" else f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c
        for c in text
    )
    if len(escaped) <= _MAX_LABEL:
        return escaped
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=3).hexdigest()
    return f"{escaped[: _MAX_LABEL - 7]}~{digest}"
