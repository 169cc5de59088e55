"""Configuration: one YAML file -> validated, typed settings.

Every mistake a user can make in the file is reported as a `ConfigError` that
names the key path (``models.credit-risk.reference``), the offending value and
the fix, so the CLI can print it without a traceback. Secrets are never read
from the config text: a secret field holds ``{env: NAME}`` or ``{file: PATH}``
and is resolved at load time into a `pydantic.SecretStr`, which never prints
its value. Plain strings may use ``${NAME}`` to take a value from the
environment (for example the broker address in a container), and
``${NAME:-default}`` to fall back to a default when it is unset.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from driftwatch.alerting.templates import BUILTIN, TemplateError, load_template
from driftwatch.defaults import (
    CHALLENGER_WORSE_BY_DEFAULT,
    MIN_LABELS_DEFAULT,
    MIN_ROWS_DEFAULT,
    SEGMENT_MIN_ROWS_DEFAULT,
)
from driftwatch.errors import ConfigError
from driftwatch.stream.segments import SegmentRule
from driftwatch.webconfig import WebConfigError, load_web_config

# The error type of a validator that finds several problems of one section, each a line
# "relative.key: message" (`_format_validation_error` prefixes each with the section's key).
_PROBLEMS = "problems"


def _problems(lines: list[str]) -> PydanticCustomError:
    return PydanticCustomError(_PROBLEMS, "{problems}", {"problems": "\n".join(lines)})


__all__ = [
    "ConfigError",
    "DriftSettings",
    "EmbeddingSettings",
    "FeatureSettings",
    "HistorySettings",
    "HttpSettings",
    "KafkaSettings",
    "ModelSettings",
    "MultivariateSettings",
    "QualityLimits",
    "ScheduleSettings",
    "SecretHeader",
    "SecretRef",
    "Settings",
    "WebhookSettings",
    "WindowSettings",
    "load_http_settings",
    "load_settings",
    "load_yaml",
    "parse_duration",
]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """Seconds from ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '5m', '1h' or '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '5m', '1h' or '7d'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} must be a positive, finite duration, e.g. '30s'")
    return seconds


# What the JSON Schema shows for a duration: the forms `parse_duration` reads, not the float it returns.
_DurationText = Annotated[str, StringConstraints(pattern=_DURATION.pattern)]
Duration = Annotated[
    float,
    BeforeValidator(parse_duration, json_schema_input_type=Annotated[float, Field(gt=0)] | _DurationText),
]


def _parse_duration_or_zero(value: object) -> float:
    if value == 0 or (isinstance(value, str) and value.strip() in {"0", "0s"}):
        return 0.0
    return parse_duration(value)


OptionalWait = Annotated[
    float,
    BeforeValidator(
        _parse_duration_or_zero,
        json_schema_input_type=Annotated[float, Field(ge=0)]
        | _DurationText
        | Annotated[str, StringConstraints(pattern=r"^\s*0\s*$")],
    ),
]
"""A duration that may be 0 (off)."""


def _seconds(value: float) -> str:
    """A duration as the config would write it: 90 -> '90s', 3600 -> '1h'."""
    for unit, size in (("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if value >= size and (value / size).is_integer():
            return f"{int(value / size)}{unit}"
    return f"{value:g}s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (e.g. a mounted Kubernetes secret)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env: VARIABLE_NAME' or 'file: /path/to/secret'")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str]) -> SecretStr:
        if self.env is not None:
            value = environ.get(self.env)
            if not value:
                raise ValueError(
                    f"environment variable {self.env} is not set (or empty); "
                    f"export {self.env}=... before starting driftwatch"
                )
            return SecretStr(value)
        assert self.file is not None
        try:
            text = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}; check the path") from None
        if not text:
            raise ValueError(f"secret file {self.file} is empty; put the secret in it")
        return SecretStr(text)


def _secret_ref(value: object) -> object:
    if isinstance(value, str):
        raise ValueError(
            "secrets are never read from the config text; write {env: VARIABLE_NAME} or {file: /path/to/secret}"
        )
    return value


SecretField = Annotated[SecretRef, BeforeValidator(_secret_ref)]


# kafka-python consumer settings a user may pass through under `kafka.options`.
_KAFKA_PASSTHROUGH = frozenset(
    {
        "client_id",
        "fetch_min_bytes",
        "fetch_max_wait_ms",
        "fetch_max_bytes",
        "max_partition_fetch_bytes",
        "request_timeout_ms",
        "retry_backoff_ms",
        "reconnect_backoff_ms",
        "reconnect_backoff_max_ms",
        "max_in_flight_requests_per_connection",
        "auto_offset_reset",
        "session_timeout_ms",
        "heartbeat_interval_ms",
        "max_poll_records",
        "max_poll_interval_ms",
        "receive_buffer_bytes",
        "send_buffer_bytes",
        "connections_max_idle_ms",
        "metadata_max_age_ms",
        "api_version_auto_timeout_ms",
        "isolation_level",
        "ssl_check_hostname",
        "ssl_crlfile",
        "ssl_ciphers",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
    }
)


# kafka.options that librdkafka has no property for (kafka.client: confluent refuses them)
_NO_LIBRDKAFKA_EQUIVALENT = frozenset({"sasl_kerberos_domain_name"})

# kafka.options whose values kafka-python checks (auto_offset_reset: anything else acts as "none")
_KAFKA_OPTION_VALUES = {
    "auto_offset_reset": ("earliest", "latest", "none"),
    "isolation_level": ("read_uncommitted", "read_committed"),
}


class ScaleOutSettings(_Strict):
    """Several replicas (one consumer group, the same config) acting as one monitor."""

    enabled: bool = False
    # partitions of the internal topics: the most replicas that can share the models' checks
    partitions: int = Field(default=12, ge=1, le=10_000)
    # replicas of each internal topic when driftwatch creates them (existing topics are left as they are)
    replication_factor: int = Field(default=1, ge=1, le=32)
    # this replica's name in driftwatch_model_owner (default: the host name and process id)
    replica: str | None = Field(default=None, min_length=1, max_length=200)
    # the largest message written to the internal samples and state topics: a batch's partial (with
    # embedding vectors, 1.5 kB a record at dim 384) or checkpoint above it is split; keep it below the
    # brokers' message.max.bytes / the topics' max.message.bytes (Kafka's default: 1 MiB)
    max_message_bytes: int = Field(default=900_000, ge=16_384, le=8_000_000)


class KafkaSettings(_Strict):
    bootstrap_servers: list[str] = Field(min_length=1)
    topic: str = Field(min_length=1)
    group_id: str = Field(default="driftwatch", min_length=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"] | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretField | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretField | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    # Rejected records are produced here unchanged, with headers giving the reason and their origin.
    dead_letter_topic: str | None = Field(default=None, min_length=1)
    labels_topic: str | None = Field(
        default=None, min_length=1
    )  # ground-truth labels, joined by prediction_id
    # "thread": kafka-python fetches and parses in the daemon's process (the default); "process": a child
    # process fetches and parses, so that work runs on another core while the daemon windows the records.
    reader: Literal["thread", "process"] = "thread"
    # "kafka-python" (the default) or "confluent": librdkafka through confluent-kafka (driftwatch[confluent]),
    # which fetches on its own threads and reads several times faster
    client: Literal["kafka-python", "confluent"] = "kafka-python"
    # "all" (the default): every record's features are decoded. "sampled": every record is decoded and
    # validated but for its features, which are decoded only for the records a window's sample may keep
    # (key below their bucket's threshold); counts, rejections and dead letters stay exact, type
    # violations are counted among the decoded records only (README "Decoding only the sample")
    decode: Literal["all", "sampled"] = "all"
    # replicas sharing the work through internal topics named after group_id (see README "Scaling out")
    scale_out: ScaleOutSettings = Field(default_factory=ScaleOutSettings)

    @field_validator(
        "bootstrap_servers",
        mode="before",
        json_schema_input_type=Annotated[str, StringConstraints(pattern=r"[^,\s]")]
        | Annotated[list[str], Field(min_length=1)],
    )
    @classmethod
    def _split_servers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _client_fits(self) -> KafkaSettings:
        if self.client != "confluent":
            return self
        problems: list[str] = []
        if self.reader == "process":
            problems.append(
                "kafka.reader: process runs kafka-python in a child process; with kafka.client: confluent "
                "librdkafka already fetches on its own threads: remove kafka.reader"
            )
        for name in sorted(set(self.options) & _NO_LIBRDKAFKA_EQUIVALENT):
            problems.append(
                f"kafka.options.{name} ({self.options[name]!r}) has no librdkafka equivalent "
                "(kafka.client: confluent): remove it, or use kafka.client: kafka-python"
            )
        if self.sasl_mechanism == "GSSAPI":
            problems.append(
                "kafka.sasl_mechanism 'GSSAPI': confluent-kafka's librdkafka is built without Kerberos "
                "(kafka.client: confluent): use kafka.client: kafka-python for GSSAPI"
            )
        # two options set against each other, which librdkafka refuses (kafka-python adapts or tolerates)
        for low, high in (
            ("session_timeout_ms", "max_poll_interval_ms"),
            ("reconnect_backoff_ms", "reconnect_backoff_max_ms"),
        ):
            below, above = self.options.get(low), self.options.get(high)
            if isinstance(below, int) and isinstance(above, int) and above < below:
                problems.append(
                    f"kafka.options.{high} ({above!r}) is below {low} ({below!r}), which librdkafka "
                    f"(kafka.client: confluent) refuses: raise {high} to at least {below}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - _KAFKA_PASSTHROUGH)
        if unknown:
            raise ValueError(
                f"unknown kafka-python consumer option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_KAFKA_PASSTHROUGH))}"
            )
        # values kafka-python would refuse (or, for auto_offset_reset, silently take as "none") only once
        # the daemon runs: said here, with the key and the fix
        for name, allowed in _KAFKA_OPTION_VALUES.items():
            if name in value and value[name] not in allowed:
                raise ValueError(
                    f"kafka.options.{name} {value[name]!r} is not one of {', '.join(allowed)}; use one of them"
                )
        idle = value.get("connections_max_idle_ms", 540_000)
        request = value.get("request_timeout_ms", 30_000)
        wait = value.get("fetch_max_wait_ms", 200)  # driftwatch's default (driftwatch.source.kafka)
        if all(isinstance(v, int | float) for v in (idle, request, wait)) and not wait < request < idle:
            raise ValueError(
                f"kafka.options: fetch_max_wait_ms ({wait}) < request_timeout_ms ({request}) < "
                f"connections_max_idle_ms ({idle}) must hold (kafka-python refuses to start otherwise); "
                "raise request_timeout_ms or connections_max_idle_ms, or lower fetch_max_wait_ms"
            )
        return value

    @model_validator(mode="after")
    def _dead_letter_elsewhere(self) -> KafkaSettings:
        if self.dead_letter_topic is not None and self.dead_letter_topic in (self.topic, self.labels_topic):
            raise ValueError(
                f"dead_letter_topic {self.dead_letter_topic!r} is a topic driftwatch reads; "
                "name another topic (e.g. predictions.dead-letter)"
            )
        if self.labels_topic == self.topic:
            raise ValueError(
                f"labels_topic {self.labels_topic!r} is the predictions topic; labels go on a topic of "
                "their own (e.g. labels), or inline in prediction records as 'label'"
            )
        return self

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and self.sasl_mechanism is None:
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism (e.g. PLAIN or SCRAM-SHA-512)"
            )
        return self


def _yaml_off(value: object) -> object:
    """YAML 1.1 reads a bare ``off`` as false (and ``on`` as true): take them as the words written."""
    return {False: "off", True: "on"}.get(value, value) if isinstance(value, bool) else value


_Access = Annotated[
    Literal["open", "auth", "off"],
    BeforeValidator(_yaml_off, json_schema_input_type=Literal["open", "auth", "off", False]),
]


class HttpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9308, ge=0, le=65535)
    # exporter-toolkit's web config (TLS, client certificates, basic auth users), see driftwatch.webconfig
    web_config_file: Path | None = None
    # open: served like /metrics (behind basic auth when the web config has users); auth: credentials
    # required (the web config must have users); off: 404
    api: _Access = "open"
    reports: _Access = "open"
    # /healthz and /readyz: open even when the web config has users, so Kubernetes probes need no
    # credentials; auth puts them behind basic auth like every other path
    probes: Literal["open", "auth"] = "open"


class WindowSettings(_Strict):
    length: Duration = 3600.0
    max_rows: int = Field(default=50_000, ge=10)
    buckets: int = Field(default=12, ge=1, le=1440)
    # A window with fewer rows gets no drift verdict ("not enough rows"; the alert state is left as it
    # is): on so few rows the default tests flag unshifted data. The default is measured, see
    # bench/false_alarms.py and the README.
    min_rows: int = Field(default=MIN_ROWS_DEFAULT, ge=1)

    @model_validator(mode="after")
    def _min_below_max(self) -> WindowSettings:
        if self.min_rows > self.max_rows:
            given = "min_rows" in self.model_fields_set
            raise ValueError(
                f"min_rows {self.min_rows}{'' if given else ' (the default)'} is above max_rows "
                f"{self.max_rows}: the window never holds that many rows, so no check would ever give a "
                f"verdict; raise max_rows to at least {self.min_rows}"
                + (
                    " or lower min_rows"
                    if given
                    else " or set min_rows (smaller windows raise more false alarms)"
                )
            )
        return self


class ScheduleSettings(_Strict):
    every: Duration | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSettings:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every: 5m' or 'cron: \"*/5 * * * *\"'")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r} is not a crontab expression ({exc})") from None
        return self


def _share(value: object) -> object:
    """A share limit: a number in [0, 1] (a fraction, not a percentage), or null for none."""
    if value is None:
        return None
    if isinstance(value, str):  # a `${NAME}` reference is text once interpolated, as for every number
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError("must be a share: a fraction in [0, 1], e.g. 0.1 for 10%")
    return float(value)


Share = Annotated[
    float | None,
    BeforeValidator(_share),
    WithJsonSchema({"type": ["number", "null"], "minimum": 0, "maximum": 1}),
]


class QualityLimits(_Strict):
    """Data-quality limits of a model's features (`quality:`), or of one feature (overriding the model's
    key by key; null lifts a model limit for that feature). A feature whose measure in the window exceeds
    its limit makes the model's data_quality check breach."""

    missing_share: Share = None  # values missing, null, NaN, infinite or of the wrong kind
    unseen_share: Share = None  # categorical features: values the reference never had
    out_of_range_share: Share = None  # numeric features: values outside the reference's [min, max]
    missing_share_increase: Share = None  # the missing share minus the reference's missing share

    def merged(self, override: QualityLimits | None) -> dict[str, float]:
        """The limits in force for a feature with ``override``: measure -> limit."""
        limits = self.model_dump()
        if override is not None:
            limits.update(override.model_dump(exclude_unset=True))
        return {measure: limit for measure, limit in limits.items() if limit is not None}


QUALITY_MEASURES: tuple[str, ...] = tuple(QualityLimits.model_fields)


class FeatureSettings(_Strict):
    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical"] | None = None
    method: str = "auto"
    threshold: float | None = Field(default=None, gt=0)
    quality: QualityLimits | None = None  # overrides the model's quality limits for this feature

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from driftwatch.drift.stattests import CATALOGUE

        if value != "auto" and value not in CATALOGUE:
            raise ValueError(
                f"unknown drift method {value!r}; use 'auto' or one of {', '.join(sorted(CATALOGUE))}"
            )
        return value


def _feature(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class AlertSettings(_Strict):
    """When a breaching check becomes an alert event (see `driftwatch.alerting.policy`)."""

    consecutive: int = Field(default=1, ge=1, le=1000)
    cooldown: Duration | None = None  # quiet time while still breaching; unset = notify once per episode
    resolve_after: int = Field(default=1, ge=1, le=1000)


class StateSettings(_Strict):
    # SQLite file for alert state, the webhook outbox and window checkpoints. A relative path is relative to the config file; unset, the file is
    # driftwatch-state.sqlite in the working directory (a config directory is often read-only). Empty
    # is unset, so that `${NAME:-}` leaves the default when NAME is not set (configs/demo.yaml).
    path: Path | None = None
    # How often windows and the Kafka offsets they cover are checkpointed into the state file (offsets
    # are committed to Kafka right after). After a crash, at most this much traffic is read again.
    checkpoint_interval: Duration = Field(default=1.0, ge=0.05, le=300)

    @field_validator("path", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def file(self) -> Path:
        return self.path or Path("driftwatch-state.sqlite")


# The history file's bound on stored check rows. bench/history.py measures 16 MiB per 10,000 rows of
# a 25-feature model and 20 MiB for a segmented one's (its scopes' rows are larger): 150,000 rows keep
# the file at 240-300 MiB. At one row per 5-minute check that is 52 days of one model; more models or
# scopes reach the bound sooner than history.retention, and their oldest rows go first.
HISTORY_MAX_CHECKS = 150_000


class HistorySettings(_Strict):
    """The check history (`driftwatch.state.history`): every scheduled check's result, the alert events
    it caused and their webhook deliveries, kept in a SQLite file of its own for ``retention``."""

    enabled: bool = True
    # A relative path is relative to the config file; unset, the file is next to the state file, named
    # after it: driftwatch-state.history.sqlite for driftwatch-state.sqlite.
    path: Path | None = None
    retention: Duration = 90 * 86400.0
    # stored check rows at most (every model's, scopes included); the oldest go first
    max_checks: int = HISTORY_MAX_CHECKS

    @field_validator("retention")
    @classmethod
    def _retention_bounds(cls, value: float) -> float:
        if value < 3600.0:
            raise ValueError("must be at least 1h, so a check's history outlives its alert; write e.g. '90d'")
        return value

    @field_validator("max_checks", mode="before")
    @classmethod
    def _max_checks_bounds(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 100_000_000:
            raise ValueError(
                "must be a whole number of check rows between 1000 and 100000000; "
                f"write e.g. {HISTORY_MAX_CHECKS}"
            )
        return value

    def file(self, state_file: Path) -> Path:
        """The history file: ``path``, or next to ``state_file`` named after it."""
        if self.path is not None:
            return self.path
        return state_file.with_name(f"{state_file.stem}.history.sqlite")


# the methods of driftwatch.drift.multivariate_methods.METHODS (a unit test keeps the two equal; the
# config does not import the statistics)
MultivariateMethodName = Literal["reconstruction_error", "domain_classifier_auroc"]


def _default_methods() -> list[MultivariateMethodName]:
    return ["reconstruction_error"]


class MultivariateSettings(_Strict):
    """Multivariate drift: methods that see the features together (``drift.multivariate``).

    ``columns``: the features it looks at (default: all the model's features; at least 2);
    ``n_components``: the reconstruction error's PCA, a share of explained variance in (0, 1) or a
    number of components; ``chunk_size``: rows per reference chunk for the thresholds (default: the
    window's max_rows, at most a hundredth of the reference's rows); the thresholds are scaled to each
    window's rows (see the README, "Multivariate drift"). ``methods``: ``reconstruction_error``
    (default) and/or ``domain_classifier_auroc``, NannyML's domain classifier with its constant
    thresholds 0.45 and 0.65: it trains 5 LightGBM models at every check (about 0.5-2 s) on the
    window and a fixed-seed sample of at most 10,000 reference rows, which a saved profile keeps;
    ``n_components`` and ``chunk_size`` do not apply to it, and a model with ``segments`` cannot use
    it (a training per segment scope per check). Segment and version scopes run the methods fitted on
    their own reference rows (README "Multivariate drift"); a rolling baseline does not run them."""

    methods: list[MultivariateMethodName] = Field(default_factory=_default_methods, min_length=1)
    columns: list[str] | None = None
    n_components: Annotated[int, Field(ge=1)] | Annotated[float, Field(gt=0, lt=1)] = 0.65
    chunk_size: int | None = Field(default=None, ge=2)

    @field_validator("methods", "columns")
    @classmethod
    def _once(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            twice = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"{twice[0]!r} is listed twice; list each once")
        return value


class DriftSettings(_Strict):
    share: float = Field(default=0.5, gt=0, le=1)
    # off unless configured: it adds alert states, metrics and webhooks to a model
    multivariate: MultivariateSettings | None = None


class MetricThreshold(_Strict):
    """When a performance metric breaches: an absolute bound and/or a relative drop from the reference."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> MetricThreshold:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError("give min, max and/or max_drop (e.g. {max_drop: 0.05} for a 5% drop)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


_PERFORMANCE_METRICS = {
    "binary_classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass_classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "mape", "r2"),
}
_ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
_DLE_METRICS = ("mae", "rmse")  # regression estimates (DLE): driftwatch.performance.dle.DAEMON_METRICS


class PerformanceSettings(_Strict):
    """Realized performance from joined labels, and (classifiers) CBPE estimates without them."""

    task: Literal["binary_classification", "multiclass_classification", "regression"]
    label: str = Field(default="label", min_length=1)  # the reference's label column
    decision_threshold: float = Field(default=0.5, gt=0, lt=1)
    classes: list[str | int | bool] | None = None  # binary: [negative, positive]; default [0, 1]
    # fewer labelled rows (or predictions, for CBPE): "not enough labels", no number, no alert change
    min_labels: int = Field(default=MIN_LABELS_DEFAULT, ge=1)
    thresholds: dict[str, MetricThreshold] = Field(default_factory=dict)
    # CBPE; default: on for classifiers whose reference logs probabilities (binary: scores; multiclass:
    # a map class -> probability per row). Regression: DLE, only when true
    estimate: bool | None = None
    estimate_thresholds: dict[str, MetricThreshold] | None = None  # default: thresholds of estimable metrics
    calibration: Literal["auto", "isotonic", "none"] = "auto"
    # how far back (prediction time) realized performance looks; default: the model's window length.
    # Labels that come hours or days late need a longer look-back than drift does.
    window: Duration | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _known_metrics(self) -> PerformanceSettings:
        known = _PERFORMANCE_METRICS[self.task]
        for key, names in (
            ("thresholds", self.thresholds),
            ("estimate_thresholds", self.estimate_thresholds),
        ):
            estimator = "DLE" if self.task == "regression" else "CBPE"
            estimable = _DLE_METRICS if self.task == "regression" else _ESTIMATED_METRICS
            allowed = estimable if key == "estimate_thresholds" else known
            unknown = sorted(set(names or {}) - set(allowed))
            if unknown:
                raise ValueError(
                    f"{key}: {', '.join(unknown)} is not a metric of {self.task}"
                    f"{f' that {estimator} estimates' if key == 'estimate_thresholds' else ''}; "
                    f"use {', '.join(allowed)}"
                )
        if self.classes is not None and self.task == "binary_classification" and len(self.classes) != 2:
            raise ValueError(f"classes: a binary classifier has [negative, positive], got {self.classes!r}")
        return self


class LabelSettings(_Strict):
    """The label join state: how long predictions wait for labels, and how many are kept per model."""

    ttl: Duration = Field(default=7 * 86400.0, gt=0)
    grace: OptionalWait = Field(default=3600.0, ge=0)  # 0: a label for an unseen id is unknown at once
    max_rows: int = Field(default=1_000_000, ge=100)


_SEGMENT_COLUMN_NAME = re.compile(r"^[^:=;%\x00-\x1f]+$")


def _category_text(value: object) -> object:
    """A YAML scalar naming a version or a segment value as the text records are keyed by: ``7``,
    ``7.0`` and ``"7"`` are one value (as `driftwatch.drift.profile.category_keys` has it), so an
    unquoted ``champion: 7`` or ``pinned: [5.2]`` means what it says."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


CategoryText = Annotated[
    str, BeforeValidator(_category_text, json_schema_input_type=str | int | float), Field(min_length=1)
]


class SegmentStability(_Strict):
    """How a segment value enters and leaves the top K (see `driftwatch.stream.segments`): a candidate is
    promoted after ``promote_after`` checks in a row, displaces a member only when its share exceeds the
    member's by ``margin`` (and by several standard errors), a member leaves after ``demote_after``
    checks below ``min_share``; a firing member that leaves keeps its window until it resolves, at most
    ``retire_after``."""

    promote_after: int = Field(default=2, ge=1, le=100)
    demote_after: int = Field(default=3, ge=1, le=100)
    margin: float = Field(default=0.25, ge=0, le=10)
    retire_after: OptionalWait = 86_400.0


class SegmentColumnSettings(_Strict):
    """One segment column: a feature of the record (monitored or not) or a key of its ``metadata``."""

    column: str = Field(min_length=1, max_length=64)
    source: Literal["feature", "metadata"] = "feature"
    top_k: int | None = Field(default=None, ge=1, le=200)
    pinned: list[CategoryText] = Field(default_factory=list)
    min_share: float | None = Field(default=None, ge=0, lt=1)
    max_rows: int | None = Field(default=None, ge=10)
    min_rows: int | None = Field(default=None, ge=1)
    # segment: a segment's drift is judged against the reference's rows of the same value (when the
    # reference has the column); model: against the whole model's reference
    reference: Literal["segment", "model"] = "segment"

    @field_validator("column")
    @classmethod
    def _label_safe(cls, value: str) -> str:
        if not _SEGMENT_COLUMN_NAME.match(value):
            raise ValueError(
                f"{value!r} holds ':', '=', ';', '%' or a control character, which segment labels use as "
                "separators; rename the column the producer logs, or log a copy under a plain name"
            )
        return value


def _segment_column(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


class SegmentSettings(_Strict):
    """A model's segments: per segment column, the ``top_k`` busiest values get a window, checks, alert
    states and series of their own; every other value counts in the column's ``other`` scope."""

    columns: list[
        Annotated[
            SegmentColumnSettings,
            BeforeValidator(
                _segment_column,
                json_schema_input_type=Annotated[str, StringConstraints(min_length=1)]
                | SegmentColumnSettings,
            ),
        ]
    ] = Field(min_length=1)
    top_k: int = Field(default=20, ge=1, le=200)
    max_rows: int | None = Field(
        default=None, ge=10
    )  # per segment window; default min(window.max_rows, 10 x (the given min_rows, else window.min_rows))
    # default max(window.min_rows, 1000), at most max_rows: measured, see SEGMENT_MIN_ROWS_DEFAULT
    min_rows: int | None = Field(default=None, ge=1)
    min_share: float = Field(default=0.001, ge=0, lt=1)
    stability: SegmentStability = Field(default_factory=SegmentStability)
    # whole: per-feature series only for the whole model and versions; all: for segments too
    feature_series: Literal["whole", "all"] = "whole"

    @field_validator("columns")
    @classmethod
    def _few_unique(cls, value: list[SegmentColumnSettings]) -> list[SegmentColumnSettings]:
        if len(value) > 3:
            raise ValueError(
                f"at most 3 segment columns (got {len(value)}): each column adds top_k + 1 windows and their "
                "series; segment by the columns that matter most"
            )
        names = [c.column for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"segment column {twice[0]!r} is listed twice; list each column once")
        return value

    def column_rule(self, index: int, window: WindowSettings) -> SegmentRule:
        """The merged `SegmentRule` of segment column ``index``, given the model's window."""
        column = self.columns[index]
        given = column.min_rows or self.min_rows
        base = given or window.min_rows
        max_rows = column.max_rows or self.max_rows or max(base, min(window.max_rows, 10 * base))
        # unset: the measured default, never below the window's nor above what the segment window holds
        min_rows = given or max(window.min_rows, min(SEGMENT_MIN_ROWS_DEFAULT, max_rows))
        return SegmentRule(
            column=column.column,
            top_k=column.top_k or self.top_k,
            min_share=self.min_share if column.min_share is None else column.min_share,
            pinned=tuple(column.pinned),
            promote_after=self.stability.promote_after,
            demote_after=self.stability.demote_after,
            margin=self.stability.margin,
            retire_after=self.stability.retire_after,
            max_rows=max_rows,
            min_rows=min_rows,
            source=column.source,
        )


class VersionWindowSettings(_Strict):
    max_rows: int | None = Field(default=None, ge=10)  # default min(window.max_rows, 20000)


class ChallengerAlertSettings(_Strict):
    """When the challenger's difference alerts: its interval wholly below ``-worse_by`` (or wholly above
    ``better_by``); ``prediction_drift``: also when the two versions' predictions are distributed
    differently."""

    # 0.01: a margin of 1 point; at 0 (any significant degradation) two equally good versions fired about
    # 19 times a week at 0.95 confidence, measured by bench/scope_false_alarms.py (README)
    worse_by: float | None = Field(default=CHALLENGER_WORSE_BY_DEFAULT, ge=0)
    better_by: float | None = Field(default=None, ge=0)
    prediction_drift: bool = False


class ChampionChallengerSettings(_Strict):
    """Compare two versions served side by side on the same period of labelled traffic: the challenger's
    realized metric minus the champion's, with a confidence interval (Newcombe's for accuracy, a seeded
    bootstrap for the other metrics), and their prediction distributions."""

    champion: CategoryText
    challenger: CategoryText
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)
    bootstrap: int = Field(default=1000, ge=100, le=10_000)
    alert: ChallengerAlertSettings = Field(default_factory=ChallengerAlertSettings)

    @model_validator(mode="after")
    def _two(self) -> ChampionChallengerSettings:
        if self.champion == self.challenger:
            raise ValueError(f"champion and challenger are both {self.champion!r}; name two versions")
        return self


class VersionSettings(_Strict):
    """Windows, references and results per ``model_version``: the ``max_live`` versions seen most recently
    (named ones always among them) are each a scope."""

    max_live: int = Field(default=3, ge=1, le=20)
    window: VersionWindowSettings = Field(default_factory=VersionWindowSettings)
    references: dict[str, Path] = Field(default_factory=dict)  # version -> its reference; else the model's
    announce: bool = True  # a webhook event the first time a version is seen
    expire_after: Duration | None = None  # default 2 x window.length without rows
    champion_challenger: ChampionChallengerSettings | None = None

    @field_validator("references", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        if isinstance(value, dict):  # `7: ref.parquet` in YAML is an integer key: versions are text
            return {_category_text(k): v for k, v in value.items()}
        return value

    def named(self) -> list[str]:
        """The versions the config names (references, champion and challenger)."""
        names = list(self.references)
        if self.champion_challenger is not None:
            names += [self.champion_challenger.champion, self.champion_challenger.challenger]
        return list(dict.fromkeys(names))


class BaselineFeatureSettings(_Strict):
    method: str | None = None
    threshold: float | None = Field(default=None, gt=0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return None if value is None else FeatureSettings._known_method(value)


BaselineScope = Literal["model", "versions", "segments"]


def _model_scope() -> list[BaselineScope]:
    return ["model"]


class BaselineSettings(_Strict):
    """Compare the window with the stream's own trailing period ``[now - lag - rolling, now - lag)``, kept
    as a bounded sample: recent drift, beside the training reference's skew."""

    rolling: Duration
    lag: OptionalWait = 0.0
    max_rows: int = Field(default=20_000, ge=10)
    min_rows: int | None = Field(default=None, ge=1)  # default window.min_rows
    min_coverage: float = Field(default=0.5, gt=0, le=1)
    scopes: list[BaselineScope] = Field(default_factory=_model_scope, min_length=1)
    drift: DriftSettings | None = None  # default: the model's
    features: dict[str, BaselineFeatureSettings] = Field(default_factory=dict)
    prediction: bool = True
    alert: AlertSettings | None = None  # default: the model's


_EMBEDDING_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class EmbeddingSettings(_Strict):
    """An embedding the model logs with each prediction: the record's top-level ``field`` holds an array
    of ``dim`` numbers, and the reference's column of the same name the training vectors. ``method`` is
    one of `driftwatch.drift.embeddings.EMBEDDING_METHODS` (default ``model``: a classifier's ROC AUC,
    with Evidently's bootstrap below 1000 reference vectors); ``threshold``, ``bootstrap`` and
    ``pca_components`` are the method's own (unset: its default)."""

    field: str = Field(min_length=1, max_length=200)
    dim: int = Field(ge=2, le=65_536)
    method: Literal["model", "ratio", "distance", "mmd"] = "model"
    threshold: float | None = Field(default=None, gt=0)
    bootstrap: bool | None = None  # model, distance, mmd; unset: model bootstraps below 1000 reference rows
    pca_components: int | None = Field(default=None, ge=1)

    def parameters(self) -> dict[str, object]:
        """The method's keyword arguments that the settings give (`driftwatch.drift.embeddings`)."""
        out: dict[str, object] = {}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.bootstrap is not None:
            out["bootstrap"] = self.bootstrap
        if self.pca_components is not None:
            out["pca_components"] = self.pca_components
        return out


class ModelSettings(_Strict):
    reference: Path
    features: list[
        Annotated[
            FeatureSettings,
            BeforeValidator(
                _feature,
                json_schema_input_type=Annotated[str, StringConstraints(min_length=1)] | FeatureSettings,
            ),
        ]
    ] = Field(min_length=1)
    prediction: str | None = None
    window: WindowSettings = Field(default_factory=WindowSettings)
    schedule: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(every=300.0))
    drift: DriftSettings = Field(default_factory=DriftSettings)
    alert: AlertSettings = Field(default_factory=AlertSettings)
    webhooks: list[str] = Field(default_factory=list)
    performance: PerformanceSettings | None = None
    quality: QualityLimits = Field(default_factory=QualityLimits)  # limits of every feature
    segments: SegmentSettings | None = None
    versions: VersionSettings | None = None
    baseline: BaselineSettings | None = None
    # embedding name -> where its vectors are and how their drift is checked (`embedding_drift:NAME`)
    embeddings: dict[str, EmbeddingSettings] = Field(default_factory=dict)

    @property
    def scoped(self) -> bool:
        """Whether the model watches segments, versions or a rolling baseline."""
        return self.segments is not None or self.versions is not None or self.baseline is not None

    def quality_limits(self) -> dict[str, dict[str, float]]:
        """Feature -> measure -> limit, for the features with any limit: empty without data-quality limits."""
        limits = {f.name: self.quality.merged(f.quality) for f in self.features}
        return {name: measures for name, measures in limits.items() if measures}

    @model_validator(mode="after")
    def _performance_needs_prediction(self) -> ModelSettings:
        if self.performance is not None and not self.prediction:
            raise ValueError(
                "performance needs the model's prediction column: set 'prediction' to the reference column "
                "that holds what the model logs as 'prediction' (a score, a class or class probabilities)"
            )
        return self

    @model_validator(mode="after")
    def _scopes_consistent(self) -> ModelSettings:
        problems = [
            *self._segment_problems(),
            *self._version_problems(),
            *self._baseline_problems(),
            *self._multivariate_problems(),
            *self._embedding_problems(),
        ]
        if problems:  # one line each, under its own key (`_format_validation_error` splits them)
            raise _problems(problems)
        return self

    def _embedding_problems(self) -> list[str]:
        problems = []
        columns = {f.name for f in self.features} | ({self.prediction} if self.prediction else set())
        for name, embedding in self.embeddings.items():
            where = f"embeddings.{name}"
            if not _EMBEDDING_NAME.match(name):
                problems.append(
                    f"{where}: {name!r} is not a valid embedding name (it names the check "
                    f"embedding_drift:{name}); use up to 64 letters, digits, '_', '.' or '-'"
                )
            if name in columns:
                problems.append(
                    f"{where}: {name!r} is also a feature or the prediction of the model, and the model "
                    "window keeps one column per name; give the embedding another name"
                )
            if embedding.field in {
                "model",
                "model_version",
                "prediction_id",
                "timestamp",
                "features",
                "prediction",
                "label",
                "metadata",
            }:
                problems.append(
                    f"{where}.field: {embedding.field!r} is a field of the record contract; log the vectors "
                    "under a field of their own, e.g. field: text_vec"
                )
            if embedding.pca_components is not None and embedding.pca_components >= embedding.dim:
                problems.append(
                    f"{where}.pca_components: {embedding.pca_components} is not below dim {embedding.dim}; "
                    "project on fewer components, or leave pca_components out"
                )
            if embedding.method == "model" and embedding.threshold is not None and embedding.threshold >= 1:
                problems.append(
                    f"{where}.threshold: {embedding.threshold} is a ROC AUC of 1 or more, which method model "
                    "never exceeds; use a value between 0.5 and 1 (default 0.55)"
                )
            if embedding.method == "ratio" and embedding.bootstrap is not None:
                problems.append(
                    f"{where}.bootstrap: method ratio has no bootstrap; remove bootstrap, or use method "
                    "model, distance or mmd"
                )
        return problems

    def _segment_problems(self) -> list[str]:
        segments = self.segments
        if segments is None:
            return []
        problems = []
        types = {f.name: f.type for f in self.features}
        for i, column in enumerate(segments.columns):
            where = f"segments.columns[{i}]"
            if column.source == "metadata" and (column.column in types or column.column == self.prediction):
                problems.append(
                    f"{where}.column: {column.column!r} is also a feature or the prediction of the model, and the "
                    "model window keeps one column per name; segment by the feature (source: feature), or rename "
                    "the metadata key"
                )
            if column.source == "feature" and types.get(column.column) == "numeric":
                problems.append(
                    f"{where}.column: {column.column!r} is a numeric feature; segments need a categorical "
                    "column: set the feature's type: categorical, or segment by a binned column the producer logs"
                )
            top_k = column.top_k or segments.top_k
            pinned = len(column.pinned) > top_k or len(set(column.pinned)) != len(column.pinned)
            if len(column.pinned) > top_k:
                problems.append(
                    f"{where}.pinned: {len(column.pinned)} pinned values for top_k {top_k}; pinned values count "
                    "among the top_k: raise top_k or pin fewer"
                )
            if len(set(column.pinned)) != len(column.pinned):
                twice = sorted({v for v in column.pinned if column.pinned.count(v) > 1})
                problems.append(f"{where}.pinned: {twice[0]!r} is pinned twice; pin each value once")
            if pinned:
                continue  # the rule would refuse the same pinned values, without the key
            rule = segments.column_rule(i, self.window)
            if rule.min_rows > rule.max_rows:
                # the key the user wrote: the column's own override, else the section's
                low = f"{where}.min_rows" if column.min_rows else "segments.min_rows"
                high = f"{where}.max_rows" if column.max_rows else "segments.max_rows"
                problems.append(
                    f"{low}: {rule.min_rows} is above {high} {rule.max_rows} (column {column.column!r}): no "
                    "segment window would ever reach it; raise max_rows or lower min_rows"
                )
        return problems

    def _version_problems(self) -> list[str]:
        versions = self.versions
        if versions is None:
            return []
        problems = []
        named = versions.named()
        if len(named) > versions.max_live:
            problems.append(
                f"versions.max_live: {versions.max_live} is below the {len(named)} versions the config names "
                f"({', '.join(named)}); raise max_live to at least {len(named)}"
            )
        contest = versions.champion_challenger
        if contest is not None:
            performance = self.performance
            if performance is None:
                if contest.metrics:
                    problems.append(
                        f"versions.champion_challenger.metrics: needs a performance: section (labels) for "
                        f"{', '.join(contest.metrics)}; add one, or set metrics: [] (prediction distributions "
                        "are compared without labels)"
                    )
            else:
                known = _PERFORMANCE_METRICS[performance.task]
                unknown = [m for m in contest.metrics if m not in known]
                if unknown:
                    problems.append(
                        f"versions.champion_challenger.metrics: {', '.join(unknown)} is not a metric of "
                        f"{performance.task}; use {', '.join(known)}"
                    )
            if not contest.metrics and not contest.alert.prediction_drift and not self.prediction:
                problems.append(
                    "versions.champion_challenger: compares nothing (no metrics, and the model has no "
                    "prediction column); give metrics with a performance: section, or set prediction"
                )
        return problems

    def multivariate_columns(self) -> list[str]:
        """The features multivariate drift looks at (empty without a ``drift.multivariate`` section)."""
        settings = self.drift.multivariate
        if settings is None:
            return []
        return list(settings.columns) if settings.columns is not None else [f.name for f in self.features]

    def _multivariate_problems(self) -> list[str]:
        settings = self.drift.multivariate
        if settings is None:
            return []
        problems = []
        names = [f.name for f in self.features]
        for column in settings.columns or []:
            if column not in names:
                problems.append(
                    f"drift.multivariate.columns: {column!r} is not a feature of the model (the window keeps only "
                    f"features); use some of {', '.join(names)}, or add it to features"
                )
        columns = self.multivariate_columns()
        if len(columns) < 2:
            where = "drift.multivariate.columns" if settings.columns is not None else "features"
            problems.append(
                f"{where}: multivariate drift needs at least 2 features, got {len(columns)} ({', '.join(columns)}); "
                "name more columns, or remove drift.multivariate (data_drift tests a single feature)"
            )
        if "domain_classifier_auroc" in settings.methods and self.segments is not None:
            problems.append(
                "drift.multivariate.methods: domain_classifier_auroc trains 5 LightGBM models at every check "
                "(about 0.6 s with 9 features), and a model with segments would pay that once per segment "
                "scope (top_k + 1 per column); list only reconstruction_error in a model with segments, or "
                "remove segments (version scopes may use both methods)"
            )
        n = settings.n_components
        if isinstance(n, int) and n > len(columns) >= 2:
            problems.append(
                f"drift.multivariate.n_components: {n} components of {len(columns)} columns; give at most "
                f"{len(columns)}, or a share of explained variance such as 0.65"
            )
        return problems

    def _baseline_problems(self) -> list[str]:
        baseline = self.baseline
        if baseline is None:
            return []
        problems = []
        if baseline.rolling < self.window.length:
            problems.append(
                f"baseline.rolling: {_seconds(baseline.rolling)} is shorter than window.length "
                f"{_seconds(self.window.length)}: the baseline would be noisier than the window it judges; make "
                f"rolling at least {_seconds(self.window.length)}"
            )
        names = [f.name for f in self.features]
        for feature in baseline.features:
            if feature not in names:
                problems.append(
                    f"baseline.features.{feature}: not a feature of the model; use one of {', '.join(names)}"
                )
        for scope, section in (("segments", self.segments), ("versions", self.versions)):
            if scope in baseline.scopes and section is None:
                problems.append(
                    f"baseline.scopes: {scope} needs a {scope}: section; add one or remove {scope} from scopes"
                )
        min_rows = baseline.min_rows or self.window.min_rows
        if min_rows > baseline.max_rows:
            problems.append(
                f"baseline.min_rows: {min_rows} is above baseline.max_rows {baseline.max_rows}: the baseline never "
                "holds that many rows; raise max_rows or lower min_rows"
            )
        return problems

    @field_validator("features")
    @classmethod
    def _unique(cls, value: list[FeatureSettings]) -> list[FeatureSettings]:
        seen: set[str] = set()
        for feature in value:
            if feature.name in seen:
                raise ValueError(f"feature {feature.name!r} is listed twice; list each feature once")
            seen.add(feature.name)
        return value


class SecretHeader(SecretRef):
    """A header value read from the environment or a file, e.g. ``{env: GITHUB_TOKEN, prefix: "Bearer "}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)  # keep "Bearer "

    prefix: str = ""

    def value(self, environ: Mapping[str, str]) -> SecretStr:
        return SecretStr(self.prefix + self.resolve(environ).get_secret_value())


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = frozenset({"content-length", "host", "idempotency-key", "driftwatch-signature"})


class WebhookSettings(_Strict):
    url: str
    # Signs each body (Driftwatch-Signature). Optional for receivers that cannot verify it (Slack, GitHub).
    secret: SecretField | None = None
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    # generic | airflow | github | slack, or the path of a JSON template file (relative to the config).
    template: str = "generic"
    timeout: Duration = 5.0
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff: Duration = 1.0
    max_age: Duration = 86400.0  # give up on a delivery this long after its event, whatever the attempts
    # Plain strings (which may use ${VAR}) or {env: NAME} / {file: PATH} with an optional prefix;
    # use the latter for credentials: they are read at start-up and never shown.
    headers: dict[str, str | SecretHeader] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL; write e.g. https://ci.example.com/hooks/retrain"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str | SecretHeader]) -> dict[str, str | SecretHeader]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name; use letters, digits and '-'")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by driftwatch itself; remove it from headers")
        return value

    def secret_refs(self, target: str) -> list[tuple[str, SecretRef]]:
        """Every secret this target reads, with the config key naming it."""
        refs: list[tuple[str, SecretRef]] = (
            [] if self.secret is None else [(f"webhooks.{target}.secret", self.secret)]
        )
        refs += [
            (f"webhooks.{target}.headers.{name}", header)
            for name, header in self.headers.items()
            if isinstance(header, SecretHeader)
        ]
        return refs


class Settings(_Strict):
    kafka: KafkaSettings
    http: HttpSettings = Field(default_factory=HttpSettings)
    models: dict[str, ModelSettings] = Field(min_length=1)
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    state: StateSettings = Field(default_factory=StateSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _labels_have_a_use(self) -> Settings:
        if self.kafka.labels_topic and not any(m.performance for m in self.models.values()):
            raise ValueError(
                f"kafka.labels_topic {self.kafka.labels_topic!r} is set but no model has a 'performance:' "
                "section to join labels for; add one (task, label column, thresholds) or remove labels_topic"
            )
        return self

    @model_validator(mode="after")
    def _scopes_single_process(self) -> Settings:
        if self.kafka.scale_out.enabled:
            scoped = sorted(name for name, model in self.models.items() if model.scoped)
            if scoped:
                raise _problems(
                    [
                        f"models.{name}: segments, versions and baseline are not supported with "
                        "kafka.scale_out yet; run the scoped models in a daemon without scale_out, or remove "
                        "those sections"
                        for name in scoped
                    ]
                )
        return self

    @model_validator(mode="after")
    def _references(self) -> Settings:
        for name, model in self.models.items():
            for target in model.webhooks:
                if target not in self.webhooks:
                    known = ", ".join(sorted(self.webhooks)) or "none defined"
                    raise ValueError(
                        f"models.{name}.webhooks: {target!r} is not a webhook target "
                        f"(known: {known}); add it under the top-level 'webhooks:' key"
                    )
        return self


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(node, dict):
        return {
            key: _interpolate(value, environ, f"{path}.{key}" if path else str(key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(value, environ, f"{path}[{i}]") for i, value in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in environ and default is not None:
                return default
            if name not in environ:
                raise ConfigError(
                    f"{path}: {node!r} refers to environment variable {name}, which is not set; "
                    f"export {name}=... or write the value directly"
                )
            return environ[name]

        return _ENV_REF.sub(substitute, node)
    return node


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith("function-") or part in {"str", "dict[str,any]"}:
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


_SECRET_KEYS = frozenset({"secret", "sasl_plain_password", "ssl_password"})  # their values are never echoed

_FIXES = {
    "extra_forbidden": "remove it, or check its spelling against configs/demo.yaml",
    "missing": "add it",
}


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        where = _format_location(tuple(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == _PROBLEMS:  # problems of one section, each "relative.key: message"
            prefix = f"{where}." if error["loc"] else ""
            lines += [f"  - {prefix}{line}" for line in message.splitlines()]
            continue
        value = error.get("input")
        secret = any(str(part) in _SECRET_KEYS for part in error["loc"])
        hidden = secret or error["type"] == "missing" or isinstance(value, dict | list)
        shown = "" if hidden else f" (got {value!r})"
        fix = _FIXES.get(error["type"], "")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  - {where}: {message}{shown}" + (f"; {fix}" if fix else ""))
    return "\n".join([f"{source}: invalid configuration ({len(lines)} problem(s)):", *lines])


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    Plain YAML loading keeps the last of two equal keys without a word, so a second ``threshold:``
    under one feature silently replaces the first; this loader names the key and both lines instead.
    """


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` merges; the merged keys may be overridden, as YAML intends
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first != key_node.start_mark.line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice in one mapping (first at line {first + 1}); keep one of them",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(text: str) -> Any:
    """YAML text as Python objects, safely (no tags that run code) and refusing duplicate keys."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: no tags that run code


def _read_config(path: Path) -> dict[str, Any]:
    """The config file's YAML mapping, before interpolation; `ConfigError` when it cannot be had."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; pass the path of a YAML file with --config"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with keys kafka, models, ...")
    return raw


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a config file; raise `ConfigError` with every problem found.

    Relative paths inside the file (references, TLS files, secret files) are
    resolved against the file's directory, so a config works from any cwd.
    """
    environ = os.environ if environ is None else environ
    path = Path(path)
    raw = _interpolate(_read_config(path), environ, "")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, str(path))) from None
    settings, problems = _resolve_paths(settings, path.parent.resolve())
    problems += _secret_problems(settings, environ)
    if problems:
        raise ConfigError(
            f"{path}: invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
        )
    return settings


class _HttpSection(_Strict):
    http: HttpSettings = Field(default_factory=HttpSettings)


def load_http_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> HttpSettings:
    """The ``http`` section of a config file alone, read as `load_settings` reads it (interpolated, the
    web config file resolved against the file's directory and checked): what a client of the daemon's
    HTTP server needs (``driftwatch health``), without the references and secrets of the other sections."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    raw = _read_config(path)
    section = {"http": raw["http"]} if raw.get("http") is not None else {}
    try:
        http = _HttpSection.model_validate(_interpolate(section, environ, "")).http
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, str(path))) from None
    http, problems = _resolve_web_config(http, path.parent.resolve())
    if problems:
        raise ConfigError(
            f"{path}: invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
        )
    return http


def _resolve_paths(settings: Settings, base: Path) -> tuple[Settings, list[str]]:
    problems: list[str] = []
    models: dict[str, ModelSettings] = {}
    for name, model in settings.models.items():
        reference = model.reference if model.reference.is_absolute() else base / model.reference
        if reference.is_dir() and (reference / "profile.json").is_file():
            pass  # a saved reference profile (`driftwatch profile`)
        elif not reference.is_file():
            problems.append(
                f"  - models.{name}.reference: file {str(model.reference)!r} not found "
                f"(looked at {reference}); give a Parquet or CSV file of reference data, "
                "or a profile directory made by `driftwatch profile`"
            )
        elif reference.suffix.lower() not in {".parquet", ".pq", ".csv"}:
            problems.append(
                f"  - models.{name}.reference: {str(model.reference)!r} is neither .parquet nor .csv; "
                "convert the reference to Parquet or CSV"
            )
        update: dict[str, Any] = {"reference": reference}
        if model.versions is not None and model.versions.references:
            references = {}
            for version, path in model.versions.references.items():
                absolute = path if path.is_absolute() else base / path
                if not (absolute.is_file() or (absolute / "profile.json").is_file()):
                    problems.append(
                        f"  - models.{name}.versions.references.{version}: file {str(path)!r} not found (looked "
                        f"at {absolute}); give a Parquet or CSV file of version {version}'s reference data"
                    )
                references[version] = absolute
            update["versions"] = model.versions.model_copy(update={"references": references})
        models[name] = model.model_copy(update=update)
    kafka = settings.kafka
    tls = {
        name: (value if value is None or value.is_absolute() else base / value)
        for name, value in (
            ("ssl_cafile", kafka.ssl_cafile),
            ("ssl_certfile", kafka.ssl_certfile),
            ("ssl_keyfile", kafka.ssl_keyfile),
        )
    }
    for name, value in tls.items():
        if value is not None and not value.is_file():
            problems.append(f"  - kafka.{name}: file {value} not found; give the path of a PEM file")
    secrets: dict[str, Any] = {
        name: _absolute_secret(getattr(kafka, name), base) for name in ("sasl_plain_password", "ssl_password")
    }
    webhooks = {}
    for name, hook in settings.webhooks.items():
        headers = {
            header: _absolute_secret(value, base) if isinstance(value, SecretHeader) else value
            for header, value in hook.headers.items()
        }
        template = hook.template
        if template not in BUILTIN:
            try:
                template = load_template(template, base).name
            except TemplateError as exc:
                problems.append(f"  - webhooks.{name}.template: {exc}")
        webhooks[name] = hook.model_copy(
            update={"secret": _absolute_secret(hook.secret, base), "headers": headers, "template": template}
        )
    update = {"models": models, "kafka": kafka.model_copy(update={**tls, **secrets}), "webhooks": webhooks}
    state = settings.state.path
    if state is not None and not state.is_absolute():
        update["state"] = settings.state.model_copy(update={"path": base / state})
    history = settings.history.path
    if history is not None and not history.is_absolute():
        update["history"] = settings.history.model_copy(update={"path": base / history})
    http, http_problems = _resolve_web_config(settings.http, base)
    update["http"] = http
    problems += http_problems
    return settings.model_copy(update=update), problems


def _resolve_web_config(http: HttpSettings, base: Path) -> tuple[HttpSettings, list[str]]:
    """``http.web_config_file`` relative to the config file, read and checked now so that a bad one stops
    the daemon at start-up; ``http.api/reports/probes: auth`` need users in it."""
    problems: list[str] = []
    users = False
    given = http.web_config_file
    if given is not None:
        path = given if given.is_absolute() else base / given
        http = http.model_copy(update={"web_config_file": path})
        if not path.is_file():
            problems.append(
                f"  - http.web_config_file: file {str(given)!r} not found (looked at {path}); give the path "
                "of a web config file (exporter-toolkit's format), relative to this config file, or remove "
                "the key to serve plain HTTP"
            )
        else:
            try:
                users = bool(load_web_config(path).users)
            except WebConfigError as exc:
                problems += [f"  - {line}" for line in exc.problems]
                users = True  # do not add "auth needs users" lines on top of the file's own problems
    if not users:
        for name in ("api", "reports", "probes"):
            if getattr(http, name) == "auth":
                problems.append(
                    f"  - http.{name}: 'auth' but "
                    + (
                        "no http.web_config_file is set"
                        if given is None
                        else "the web config has no basic_auth_users"
                    )
                    + " to check credentials against; add users under basic_auth_users in a web config file "
                    f"(http.web_config_file) or set http.{name} to open or off"
                )
    return http, problems


_Ref = TypeVar("_Ref", bound=SecretRef)


def _absolute_secret(ref: _Ref | None, base: Path) -> _Ref | None:
    """Secret files are relative to the config file, like every other path in it."""
    if ref is None or ref.file is None or ref.file.is_absolute():
        return ref
    return ref.model_copy(update={"file": base / ref.file})


def resolve_secret(ref: SecretRef, where: str, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Resolve a secret reference, raising `ConfigError` naming the config key on failure."""
    try:
        return ref.resolve(os.environ if environ is None else environ)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _secret_problems(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Fail at start-up, not at the first breach, when a secret is unset or unreadable."""
    problems: list[str] = []
    refs: list[tuple[str, SecretRef | None]] = [
        ("kafka.sasl_plain_password", settings.kafka.sasl_plain_password),
        ("kafka.ssl_password", settings.kafka.ssl_password),
    ]
    refs += [ref for name, hook in settings.webhooks.items() for ref in hook.secret_refs(name)]
    for where, ref in refs:
        if ref is None:
            continue
        try:
            resolve_secret(ref, where, environ)
        except ConfigError as exc:
            problems.append(f"  - {exc}")
    return problems


# A `${NAME}` or `${NAME:-default}` reference: any scalar may be written as one (see `_interpolate`).
_INTERPOLATED = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}
_ANNOTATIONS = ("title", "description", "default")


def _restrictive(node: dict[str, Any]) -> bool:
    """A scalar schema that a string holding `${NAME}` would fail: numbers, booleans, enums, patterns."""
    kind = node.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}  # ["number", "null"]: a limit that may be null
    return (
        bool(kinds & {"number", "integer", "boolean"})
        or "enum" in node
        or "const" in node
        or "pattern" in node
    )


def _allow_interpolation(node: Any, wrap: bool = True) -> Any:
    """``node`` (a JSON Schema) with a `${NAME}` string allowed wherever a scalar is restricted.

    ``wrap=False``: an alternative of an ``anyOf``, whose parent adds the string once for all of them.
    """
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "$defs"):  # name -> schema
        if key in node:
            node[key] = {name: _allow_interpolation(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties"):  # one schema
        node[key] = _allow_interpolation(node[key]) if key in node else None
        if node[key] is None:
            del node[key]
    if "anyOf" in node:
        alternatives = [_allow_interpolation(alt, wrap=False) for alt in node["anyOf"]]
        if any(isinstance(alt, dict) and _restrictive(alt) for alt in alternatives):
            alternatives.append(_INTERPOLATED)
        node["anyOf"] = alternatives
        return node
    if wrap and _restrictive(node):
        annotations = {key: node.pop(key) for key in _ANNOTATIONS if key in node}
        return {**annotations, "anyOf": [node, _INTERPOLATED]}
    return node


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file as written, for editors and CI linting.

    It describes what `load_settings` reads, not what it makes of it: durations as
    numbers of seconds or strings like ``"5m"``, features as names or objects,
    ``bootstrap_servers`` as a list or a comma-separated string, and ``${NAME}``
    references in any scalar (they are interpolated before validation).
    """
    schema = _allow_interpolation(Settings.model_json_schema(mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "driftwatch configuration",
    }
