"""The ``driftwatch`` command: run | health | validate-config | schema | check | profile | replay | webhooks |
history | demo.

Errors a user can cause (bad config, unreadable reference, busy port) are
printed as one clear message and exit with status 2, never as a traceback.
Heavy imports (pandas, scipy, kafka) happen inside the subcommands, so
``driftwatch --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from driftwatch import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from driftwatch.config import ModelSettings
    from driftwatch.drift.multivariate_methods import FittedMultivariate
    from driftwatch.drift.profile import ColumnType
    from driftwatch.offline import OfflineCheck, SegmentCheck

__all__ = ["main"]

EXIT_USAGE = 2


class UserError(Exception):
    """An error the user can fix; its message is printed without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (argparse prints the whole usage first), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="driftwatch",
        description="Watch deployed ML models: drift from Kafka prediction logs to metrics and webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"driftwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override log_level")

    health = sub.add_parser(
        "health",
        help="ask a running daemon's /healthz (exit 0 healthy, 1 not): the image's HEALTHCHECK",
        description="Ask a running daemon's /healthz where its config says it listens: http.port, on the "
        "loopback address when http.host is a wildcard, over TLS with basic auth as http.web_config_file "
        "and http.probes say. Only the config's http section is read. Over TLS the daemon's certificate is "
        "verified against the configured cert_file (or --cafile). Exit 0: /healthz answered 200; 1: it "
        "did not, or the probe could not be made (Docker's HEALTHCHECK reserves 2).",
    )
    health.add_argument("--config", "-c", help="YAML config file (default: plain HTTP on 127.0.0.1:9308)")
    health.add_argument("--url", help="probe this URL instead of the one the config gives")
    health.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer (2)")
    health.add_argument("--cafile", help="verify the daemon's certificate against this CA (PEM)")
    health.add_argument(
        "--cert", help="client certificate (PEM), for client_auth_type RequireAndVerifyClientCert"
    )
    health.add_argument("--key", help="the client certificate's private key (PEM; default: in --cert)")
    health.add_argument("--user", help="basic auth user, for http.probes: auth")
    health.add_argument(
        "--password-file", help="file holding --user's password (default: $DRIFTWATCH_HEALTH_PASSWORD)"
    )

    validate = sub.add_parser("validate-config", help="check a config file and exit (0 = valid)")
    validate.add_argument("config", help="YAML config file")

    sub.add_parser("schema", help="print the JSON Schema of the config file")

    check = sub.add_parser(
        "check",
        help="one-shot drift check of a current file against a reference "
        "(exit 0 no drift, 1 drift, 2 error or no verdict)",
        description="Check a current file for drift against a reference, as the daemon checks a window. "
        "With --segment COLUMN, also each segment of that categorical column: the current file's --top-k "
        "most frequent values, COLUMN:missing and COLUMN:other, each against the reference's rows of the "
        "same value. Exit 0: no drift; 1: drift (the whole file, or a segment with a verdict) or a quality "
        "limit breached; 2: an error, or no verdict for the whole file.",
    )
    check.add_argument(
        "--reference", "-r", required=True, help="reference CSV/Parquet file or profile directory"
    )
    check.add_argument("--current", "-u", required=True, help="current CSV/Parquet file")
    check.add_argument("--config", "-c", help="take features, methods and thresholds from this config ...")
    check.add_argument("--model", "-m", help="... for this model")
    check.add_argument("--columns", help="comma-separated columns to check (default: all shared columns)")
    check.add_argument("--method", default="auto", help="drift method for every column (default: auto)")
    check.add_argument("--threshold", type=float, help="threshold for every column (default: the method's)")
    check.add_argument("--share", type=float, help="dataset drift when this share of columns drifts (0.5)")
    check.add_argument(
        "--min-rows",
        metavar="N",
        help="no verdict (exit 2) on a current file of fewer rows (default: the model's window.min_rows, "
        "else the daemon's default, 500; 1: a verdict on any size)",
    )
    check.add_argument(
        "--segment",
        action="append",
        metavar="COLUMN",
        help="also check each segment of this categorical column (repeatable, up to 3): the current file's "
        "--top-k most frequent values, COLUMN:missing and COLUMN:other, each against the reference's rows of "
        "the same value; exit 1 also when a segment with a verdict drifts",
    )
    check.add_argument(
        "--top-k", metavar="N", help="segments per --segment column: its N most frequent values (default 20)"
    )
    check.add_argument(
        "--segment-min-rows",
        metavar="N",
        help="no verdict for a segment of fewer rows; listed, never exit 2 (default: as --min-rows)",
    )
    check.add_argument(
        "--task",
        choices=["binary_classification", "multiclass_classification", "regression"],
        help="the model's task: adds performance (needs --prediction-column and --label-column)",
    )
    check.add_argument("--prediction-column", help="the model's output (a probability or a label)")
    check.add_argument(
        "--label-column", help="the ground truth; a reference label column alone gives CBPE estimates"
    )
    check.add_argument(
        "--decision-threshold", type=float, help="positive when score >= this (default 0.5, or the config's)"
    )
    check.add_argument(
        "--classes",
        help="comma-separated labels: binary NEGATIVE,POSITIVE (default 0,1); multiclass, every class",
    )
    check.add_argument("--format", "-f", choices=["table", "json", "html"], default="table")
    check.add_argument("--output", "-o", help="write the output to this file instead of stdout")

    profile = sub.add_parser(
        "profile", help="save a reference profile directory (checks can then run without it)"
    )
    profile.add_argument("--reference", "-r", required=True, help="reference CSV/Parquet file")
    profile.add_argument("--output", "-o", required=True, help="directory to write")
    profile.add_argument("--config", "-c", help="take features and types from this config ...")
    profile.add_argument("--model", "-m", help="... for this model")
    profile.add_argument("--columns", help="comma-separated columns (default: all)")
    profile.add_argument(
        "--prediction-column", help="the model's output: kept row by row with the label, for performance"
    )
    profile.add_argument("--label-column", help="the ground truth: kept row by row with the prediction")

    replay = sub.add_parser(
        "replay",
        help="what the config would have done over a past period: every check and alert, nothing sent",
        description="Replay a past period through the daemon's own checks and alert policy on a virtual clock: "
        "each model's checks run at its schedule's times from --from to --to, each on the records stamped up to "
        "then; every result and every alert event (with the webhook targets it would have gone to) is printed. "
        "Nothing is sent or committed and the state file is not touched. Records come from the config's "
        "Kafka topics, or from JSON-lines / Parquet files (--input, --labels).",
    )
    replay.add_argument(
        "--config", "-c", required=True, help="YAML config file (thresholds, policy, schedule)"
    )
    replay.add_argument(
        "--from", dest="start", required=True, help="start: ISO 8601 (naive: UTC), epoch seconds, now-7d"
    )
    replay.add_argument("--to", dest="end", required=True, help="end: as --from, or now")
    replay.add_argument("--model", "-m", action="append", help="only this model (repeatable; default: all)")
    replay.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        help="predictions file, JSON-lines or .parquet (repeatable)",
    )
    replay.add_argument(
        "--labels", action="append", default=[], help="labels file, JSON-lines or .parquet (repeatable)"
    )
    replay.add_argument("--format", "-f", choices=["table", "json"], default="table")
    replay.add_argument(
        "--reproduce",
        action="store_true",
        help="run at the recorded check times and positions of the check history and compare the results",
    )

    hooks = sub.add_parser("webhooks", help="try a webhook target; list and re-queue deliveries")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    test = hooks_sub.add_parser("test", help="send a signed test event to TARGET now and print the answer")
    test.add_argument("target", help="a target under `webhooks:` in the config")
    test.add_argument("--config", "-c", required=True, help="YAML config file")
    test.add_argument("--model", "-m", help="model named in the event (default: the first using TARGET)")
    listing = hooks_sub.add_parser("list", help="show pending and dead deliveries in the outbox")
    listing.add_argument("--config", "-c", required=True, help="YAML config file (for state.path)")
    listing.add_argument("--all", action="store_true", help="delivered ones too")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    retry = hooks_sub.add_parser("retry", help="re-queue dead deliveries (by id, or --dead for all)")
    retry.add_argument("--config", "-c", required=True, help="YAML config file (for state.path)")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="ids from `driftwatch webhooks list`")
    retry.add_argument("--dead", action="store_true", help="every dead delivery")
    retry.add_argument("--target", help="only deliveries to this target")

    history = sub.add_parser(
        "history",
        help="a model's check history: every check, its alert events and their webhook deliveries",
        description="Show the checks the daemon recorded for MODEL (history.path), in the order they ran, with "
        "the alert events each caused and their webhook deliveries. Works while the daemon runs. Exit 0 "
        "(also when nothing was recorded in the period), 2 on an error.",
    )
    history.add_argument("model", metavar="MODEL", help="a model under `models:` in the config")
    history.add_argument("--config", "-c", required=True, help="YAML config file (for history.path)")
    history.add_argument("--since", metavar="DURATION", help="checks of the last DURATION, e.g. 7d or 12h")
    history.add_argument(
        "--from", dest="start", metavar="TIME", help="checks from TIME (unix seconds or RFC 3339)"
    )
    history.add_argument(
        "--to", dest="end", metavar="TIME", help="checks up to TIME (unix seconds or RFC 3339)"
    )
    history.add_argument("--check", metavar="ID", help="only checks of this alert check id, e.g. data_drift")
    history.add_argument(
        "--scope",
        metavar="SCOPE",
        help="only this scope, e.g. country=DE or v=7 ('' for the model's own checks)",
    )
    history.add_argument("--limit", metavar="N", help="only the latest N checks")
    history.add_argument("--format", "-f", choices=["table", "json", "csv"], default="table")

    demo = sub.add_parser("demo", help="run the whole pipeline locally on generated data and show drift")
    demo.add_argument("--seconds", type=float, default=90.0, help="stop after this long (default 90)")
    demo.add_argument("--shift-after", type=float, default=30.0, help="start drifting after this long")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args.config, args.log_level)
        if args.command == "health":
            return _health(args)
        if args.command == "validate-config":
            return _validate(args.config)
        if args.command == "schema":
            from driftwatch.config import json_schema

            print(json.dumps(json_schema(), indent=2))
            return 0
        if args.command == "check":
            return _check(args)
        if args.command == "profile":
            return _profile(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "webhooks":
            return _webhooks(args)
        if args.command == "history":
            return _history(args)
        if args.command == "demo":
            from driftwatch.cli.demo import run_demo

            return run_demo(seconds=args.seconds, shift_after=args.shift_after)
    except UserError as exc:
        print(f"driftwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return EXIT_USAGE


def _load(path: str):  # type: ignore[no-untyped-def]
    from driftwatch.config import ConfigError, load_settings

    try:
        return load_settings(path)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _health(args: argparse.Namespace) -> int:
    from driftwatch.cli.health import HealthProbeError, probe_health, read_probe

    try:
        probe = read_probe(
            args.config,
            args.url,
            cafile=args.cafile,
            cert=args.cert,
            key=args.key,
            user=args.user,
            password_file=args.password_file,
            environ=os.environ,
        )
    except HealthProbeError as exc:
        print(f"driftwatch health: {exc}", file=sys.stderr)
        return 1  # unhealthy, not a usage error: Docker's HEALTHCHECK reserves 2
    code, line = probe_health(probe, args.timeout)
    print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code


def _validate(path: str) -> int:
    settings = _load(path)
    from driftwatch.reference import ReferenceDataError
    from driftwatch.service.model_checks import multivariate_reference, performance_monitor
    from driftwatch.service.preflight import (
        load_model_reference,
        method_problems,
        reference_columns,
        reference_problems,
        scope_problems,
    )

    # Everything the daemon checks at start-up, and what it would only find at run time: one line per
    # problem, every model, in the format of the config errors.
    problems: list[str] = []
    summary: list[str] = []
    for name, model in settings.models.items():
        try:
            profile, types = load_model_reference(name, model)
        except ReferenceDataError as exc:
            problems.append(f"  - {exc}")
            continue
        columns = reference_columns(model.reference)
        found = reference_problems(name, model, columns)
        found += method_problems(name, model, types)
        found += scope_problems(name, model, columns, types)
        if model.performance is not None and not found:
            try:
                performance_monitor(name, model)
            except ReferenceDataError as exc:
                found.append(f"  - {exc}")
        if model.drift.multivariate is not None and not found:
            try:  # fitted (or read from the profile) as at start-up: a profile fitted otherwise shows here
                multivariate_reference(name, model, types)
            except ReferenceDataError as exc:
                found.append(f"  - {exc}")
        problems += found
        summary.append(
            f"model {name}: reference {model.reference} ({profile.rows} rows, {len(model.features)} features)"
        )
        for embedding, vectors in profile.embeddings.items():
            dim = model.embeddings[embedding].dim
            summary.append(
                f"model {name}: embedding {embedding}: {len(vectors)} reference vectors of {dim} numbers; "
                f"{model.window.max_rows * 4 * dim / 1e6:.1f} MB of vectors in a full window "
                f"(window.max_rows {model.window.max_rows})"
            )
        if model.scoped:
            summary.append(_scope_bounds(name, model))
    if problems:
        raise UserError(
            f"{path}: invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
        )
    print("\n".join(summary))
    print(f"{path}: valid")
    return 0


def _scope_bounds(name: str, model: ModelSettings) -> str:
    """What a scoped model may cost at most: its scopes, series and window rows (README "Segments")."""
    from driftwatch.service.metrics import row_budget_of, series_budget_of

    parts = []
    segments = model.segments
    if segments is not None:
        scopes = sum(
            rule.top_k + 1 + rule.retiring_slots
            for rule in (segments.column_rule(i, model.window) for i in range(len(segments.columns)))
        )
        parts.append(f"at most {scopes} segment scopes")
    if model.versions is not None:
        parts.append(f"{model.versions.max_live} versions")
    rows = row_budget_of(model)
    parts.append(f"at most {series_budget_of(model):,} series")
    parts.append(f"at most {rows:,} window rows")
    return f"model {name}: " + "; ".join(parts)


def _run(path: str, log_level: str | None) -> int:
    settings = _load(path)
    logging.basicConfig(
        level=log_level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # its connection errors: driftwatch reports them
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)  # the same, with kafka.client: confluent
    from driftwatch.reference import ReferenceDataError
    from driftwatch.service.daemon import Daemon

    try:
        daemon = Daemon(settings)
    except (ReferenceDataError, OSError) as exc:
        raise UserError(str(exc)) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("driftwatch").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    while not stop.wait(0.5):
        if daemon.fatal is not None:
            break
    daemon.stop(timeout=10.0)
    if daemon.fatal is not None:
        raise UserError(daemon.fatal)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from driftwatch.cli.replay import ReplayCommandError, replay_command

    settings = _load(args.config)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        text, summary = replay_command(
            settings,
            args.config,
            args.start,
            args.end,
            args.model,
            args.input,
            args.labels,
            args.format,
            args.reproduce,
        )
    except ReplayCommandError as exc:
        raise UserError(str(exc)) from None
    print(text)
    print(summary, file=sys.stderr if args.format == "json" else sys.stdout)
    return 0


def _history(args: argparse.Namespace) -> int:
    import time

    from driftwatch.cli.history import HistoryCommandError, read_history, render
    from driftwatch.service.history_query import (
        HistoryQuery,
        HistoryQueryError,
        parse_limit,
        parse_since,
        parse_time,
    )

    if args.since is not None and (args.start is not None or args.end is not None):
        raise UserError(
            f"--since {args.since!r} and --from/--to both given; give --since alone, or --from and --to"
        )
    settings = _load(args.config)
    try:
        since = parse_since(args.since, time.time()) if args.since is not None else None
        if args.start is not None:
            since = parse_time("--from", args.start)
        until = parse_time("--to", args.end) if args.end is not None else None
        if since is not None and until is not None and until < since:
            raise HistoryQueryError(f"--to: {args.end!r} is before --from {args.start!r}; swap them")
        limit = parse_limit("--limit", args.limit) if args.limit is not None else None
        rows = read_history(settings, args.model, HistoryQuery(since, until, args.check, args.scope, limit))
    except (HistoryQueryError, HistoryCommandError) as exc:
        raise UserError(str(exc)) from None
    if isinstance(rows, str):
        print(rows)
        return 0
    print(render(rows, args.format))
    return 0


def _webhooks(args: argparse.Namespace) -> int:
    from driftwatch.cli.webhooks import (
        WebhookCommandError,
        list_deliveries,
        retry_deliveries,
        send_test_event,
    )

    settings = _load(args.config)
    out: list[str] = []
    try:
        if args.webhooks_command == "test":
            code = send_test_event(settings, args.target, args.model, out)
        else:
            from driftwatch.state.store import Store

            if args.webhooks_command == "retry" and bool(args.ids) == bool(args.dead):
                raise UserError("give either delivery IDs or --dead, not both and not neither")
            state = settings.state.file
            if not state.exists() and args.webhooks_command == "list":
                print(f"no webhook deliveries: state file {state} does not exist yet (state.path)")
                return 0
            if not state.exists():
                raise UserError(
                    f"state file {state} does not exist yet (state.path); the daemon creates it at its first start"
                )
            try:
                store = Store(state)
            except OSError as exc:
                raise UserError(str(exc)) from None
            try:
                if args.webhooks_command == "list":
                    statuses = ("pending", "dead", "delivered") if args.all else ("pending", "dead")
                    code = list_deliveries(store, statuses, args.json, out)
                else:
                    code = retry_deliveries(store, settings, args.ids, args.dead, args.target, out)
            finally:
                store.close()
    except WebhookCommandError as exc:
        raise UserError(str(exc)) from None
    print("\n".join(out))
    return code


def _model_settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if bool(args.config) != bool(args.model):
        raise UserError("--config and --model go together: name the model whose settings to use")
    if not args.config:
        return None
    settings = _load(args.config)
    if args.model not in settings.models:
        raise UserError(
            f"--model {args.model!r} is not in {args.config} (models: {', '.join(settings.models)})"
        )
    return settings.models[args.model]


def _classes(text: str | None) -> list[str | int | bool] | None:
    """``--classes no,yes`` as the labels the files hold: integers where every name is one, booleans for
    false,true, else text."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",")]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise UserError(f"--classes {text!r} must name two or more distinct labels, e.g. --classes no,yes")
    if {n.lower() for n in names} == {"false", "true"}:
        return [n.lower() == "true" for n in names]  # a boolean label column, as pandas reads it
    try:
        return [int(n) for n in names]
    except ValueError:
        return list(names)


def _multivariate(
    check: OfflineCheck, model: ModelSettings, name: str, reference: Path
) -> tuple[Mapping[str, FittedMultivariate], dict[str, ColumnType]]:
    """The model's multivariate drift on ``check``'s current rows, fitted on ``reference`` (or read from
    the profile there) as the daemon fits it on the model's reference; returns the fitted methods and
    their columns' types."""
    from driftwatch.offline import multivariate
    from driftwatch.reference import ReferenceDataError, load_multivariate_reference
    from driftwatch.service.model_checks import multivariate_options

    settings = model.drift.multivariate
    assert settings is not None
    columns = {c: check.types[c] for c in model.multivariate_columns() if c in check.types}
    absent = [c for c in model.multivariate_columns() if c not in columns]
    if absent:
        raise UserError(
            f"models.{name}.drift.multivariate looks at {', '.join(absent)}, left out by --columns; "
            "check them too, or leave --columns out"
        )
    try:
        fitted = load_multivariate_reference(
            reference, settings.methods, columns, multivariate_options(model), key=f"models.{name}"
        )
    except ReferenceDataError as exc:
        raise UserError(f"--reference {exc}") from None
    multivariate(check, fitted, columns)
    return fitted, columns


def _segment_multivariate(
    segment: SegmentCheck,
    whole: Mapping[str, FittedMultivariate],
    columns: dict[str, ColumnType],
    model: ModelSettings,
    reference: Any,
    min_rows: int,
) -> None:
    """The model's multivariate drift on a segment's current rows, as the daemon's segment scope runs
    it: fitted on the reference rows of its value when they are enough (`segment_fit_shortfall`), else
    the whole reference's fit (``whole``) with the same note."""
    from driftwatch.drift.multivariate_methods import fit_multivariate, segment_fit_shortfall
    from driftwatch.offline import multivariate
    from driftwatch.reference import ReferenceDataError
    from driftwatch.service.model_checks import multivariate_options

    settings = model.drift.multivariate
    assert settings is not None
    rows = segment.check.reference_frame
    fitted = whole
    note = None
    if rows is not reference:  # the segment has reference rows of its own
        options = multivariate_options(model)
        note = segment_fit_shortfall(len(rows), min_rows, segment.check.rows, options, segment.label)
        if note is None:
            try:
                fitted = {m: fit_multivariate(m, rows, columns, options) for m in settings.methods}
            except (ReferenceDataError, ValueError) as exc:
                note = (
                    f"the multivariate drift methods cannot be fitted on the reference rows of "
                    f"{segment.label} ({exc}): its multivariate drift is judged by the model's fitted methods"
                )
    multivariate(segment.check, fitted, columns)
    if note is not None:
        segment.notes = (*segment.notes, note)


def _check(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    from driftwatch.drift.dataset import ColumnOptions
    from driftwatch.drift.stattests import CATALOGUE
    from driftwatch.offline import (
        CheckError,
        check_data,
        check_segments,
        format_table,
        incomplete,
        multivariate_alert,
        performance,
        read_check_files,
        segments_table,
        to_html,
        to_json,
    )

    for flag, value in (("--reference", args.reference), ("--current", args.current)):
        if not Path(value).exists():  # before the heavy work (and its thread pools) starts
            raise UserError(f"{flag} {value}: file not found")
    if args.method != "auto" and args.method not in CATALOGUE:
        raise UserError(
            f"--method {args.method!r} is unknown; use auto or one of {', '.join(sorted(CATALOGUE))}"
        )
    if args.share is not None and not 0 < args.share <= 1:
        raise UserError(f"--share {args.share} must be in (0, 1], e.g. 0.5")
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold > 0):
        raise UserError(
            f"--threshold {args.threshold} must be a finite number above 0: a p-value (e.g. 0.05) for "
            "tests, a distance (e.g. 0.1) for psi, wasserstein and the like"
        )
    model = _model_settings(args)
    min_rows = _min_rows(args.min_rows, model)
    segment_columns, top_k, segment_min_rows = _segment_flags(args, min_rows)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    types = {}
    options = {}
    share = 0.5
    prediction = None
    settings = model.performance if model is not None else None
    if model is not None:
        columns = columns or [f.name for f in model.features]
        types = {f.name: f.type for f in model.features if f.type is not None}
        options = {f.name: ColumnOptions(f.method, f.threshold) for f in model.features}
        share = model.drift.share
        prediction = model.prediction
    # --method/--threshold override the config for every column
    default = (
        ColumnOptions(args.method, args.threshold)
        if args.method != "auto" or args.threshold is not None
        else None
    )
    share = args.share if args.share is not None else share
    prediction = args.prediction_column or prediction
    # the model's performance section, each part overridden by its flag
    task = args.task or (settings.task if settings is not None else None)
    label = args.label_column or (settings.label if settings is not None else None)
    threshold = args.decision_threshold
    if threshold is None:
        threshold = settings.decision_threshold if settings is not None else 0.5
    classes = _classes(args.classes)
    if classes is None and settings is not None and settings.classes is not None:
        classes = list(settings.classes)
    if task and not (prediction and label):
        raise UserError("--task needs --prediction-column NAME and --label-column NAME")
    if not 0 < threshold < 1:
        raise UserError(f"--decision-threshold {threshold} must be in (0, 1), e.g. 0.5")
    if task == "binary_classification" and classes is not None and len(classes) != 2:
        raise UserError(f"--classes {args.classes}: a binary classifier has two, NEGATIVE,POSITIVE")
    min_rows_from = (
        "--min-rows"
        if args.min_rows is not None
        else f"model {args.model}'s window.min_rows"
        if model is not None
        else "the default min_rows"
    )

    def measure(check: OfflineCheck, min_predictions: int) -> None:
        """The performance of ``check``'s rows, with --task (or the model's performance: section)."""
        if task and prediction and label:
            check.extra.update(
                performance(
                    check,
                    task,
                    prediction,
                    label,
                    threshold,
                    classes,
                    estimate=settings.estimate if settings is not None else None,
                    calibration=settings.calibration if settings is not None else "auto",
                    min_labels=settings.min_labels if settings is not None else 1,
                    min_predictions=min_predictions,
                    features=[f.name for f in model.features] if model is not None else (),
                    categorical=[f.name for f in model.features if f.type == "categorical"]
                    if model is not None
                    else (),
                )
            )

    try:
        files = read_check_files(Path(args.reference), Path(args.current), types, prediction)
        check = check_data(
            files.reference,
            files.current,
            columns,
            types,
            options,
            share,
            prediction,
            default,
            label=label,
            min_rows=min_rows,
            min_rows_from=min_rows_from,
            labelled=files.labelled,
            names=(args.reference, args.current),
            classes=classes if task == "multiclass_classification" else None,
        )
        measure(check, min_rows)
        joint = None
        if model is not None and model.drift.multivariate is not None:
            joint = _multivariate(check, model, args.model, Path(args.reference))
        embedding_drifted = _check_embeddings(check, model, args, files.current, min_rows)
    except CheckError as exc:
        raise UserError(str(exc)) from None
    quality_breached = _quality(check, model) or multivariate_alert(check)
    segments = None
    if segment_columns:
        segments = []
        for column in segment_columns:
            try:
                found = check_segments(
                    files.reference,
                    files.current,
                    column,
                    top_k,
                    segment_min_rows,
                    columns=columns,
                    types=types,
                    options=options,
                    share=share,
                    prediction=prediction,
                    default=default,
                    label=label,
                    min_rows_from="--segment-min-rows"
                    if args.segment_min_rows is not None
                    else min_rows_from,
                    labelled=files.labelled,
                    names=(args.reference, args.current),
                    classes=classes if task == "multiclass_classification" else None,
                )
                for segment in found:  # each segment gets what the whole file gets
                    measure(segment.check, segment_min_rows)
                    _quality(segment.check, model)
                    if joint is not None and model is not None:
                        _segment_multivariate(segment, *joint, model, files.reference, segment_min_rows)
            except CheckError as exc:
                raise UserError(str(exc)) from None
            segments += found
    if args.format == "json":
        text = to_json(check, segments)
    elif args.format == "table":
        text = format_table(check)
        if segments is not None:
            text += "\n\n" + segments_table(segments)
    else:
        text = to_html(check, bool(task and prediction), args.model, args.current, segments)
    if args.output:
        try:
            Path(args.output).write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--output {args.output}: cannot write ({exc.strerror})") from None
    else:
        print(text)
    if check.status == "not_enough_rows":
        # no verdict is not "no drift": exit 2, as for columns that could not be checked
        raise UserError(
            f"no verdict ({check.status}) on --current {args.current}: {check.reason}; to check it anyway "
            f"pass --min-rows {check.rows} (smaller files raise more false alarms)"
        )
    problem = incomplete(check)
    if problem is not None:
        raise UserError(f"{problem}; leave such columns out with --columns")
    segment_alarm = any(
        segment.alarm or (segment.check.status == "ok" and multivariate_alert(segment.check))
        for segment in segments or []
    )
    return 1 if check.drift.dataset_drift or quality_breached or segment_alarm or embedding_drifted else 0


def _check_embeddings(check: Any, model: Any, args: argparse.Namespace, current: Any, min_rows: int) -> bool:
    """The model's embeddings (its ``embeddings:`` section) checked on the files' columns of vectors, into
    the check's result; whether any drifted."""
    if model is None or not model.embeddings:
        return False
    from pathlib import Path

    from driftwatch.checks.embedding import EmbeddingSpec
    from driftwatch.offline import check_embeddings
    from driftwatch.reference import ReferenceDataError, load_embeddings

    columns = {name: (e.field, e.dim) for name, e in model.embeddings.items()}
    try:
        reference = load_embeddings(Path(args.reference), columns, f"models.{args.model}")
    except ReferenceDataError as exc:
        raise UserError(f"--reference {exc}") from None
    specs = [EmbeddingSpec(name, e.method, e.parameters()) for name, e in model.embeddings.items()]
    return check_embeddings(check, reference, current, columns, specs, min_rows)


def _quality(check: Any, model: Any) -> bool:
    """The model's quality: limits on ``check``, as the daemon applies them (``data_quality`` in its
    extra; None when too few rows were measured); whether one is breached."""
    if model is None or not model.quality_limits():
        return False
    from driftwatch.drift.quality import data_quality

    check.extra["data_quality"] = None  # too few rows: nothing measured, as in the daemon
    if check.status == "not_enough_rows":
        return False
    drifts = check.drift.columns + check.drift.errors
    quality = data_quality([c.quality for c in drifts if c.quality is not None], model.quality_limits())
    check.extra["data_quality"] = quality.as_dict()
    return bool(quality.breached)


def _segment_flags(args: argparse.Namespace, min_rows: int) -> tuple[list[str], int, int]:
    """``--segment`` (up to 3 distinct columns), ``--top-k`` and ``--segment-min-rows`` (whole numbers,
    only with --segment): the columns, top_k and the segments' min_rows."""
    from driftwatch.offline import SEGMENT_COLUMNS_MAX, SEGMENT_TOP_K_DEFAULT

    columns = list(args.segment or [])
    if not columns:
        for flag, value in (("--top-k", args.top_k), ("--segment-min-rows", args.segment_min_rows)):
            if value is not None:
                raise UserError(
                    f"{flag} {value} applies to segments: name their column with --segment COLUMN"
                )
        return [], SEGMENT_TOP_K_DEFAULT, min_rows
    if len(columns) > SEGMENT_COLUMNS_MAX:
        raise UserError(
            f"--segment given {len(columns)} times ({', '.join(columns)}): at most {SEGMENT_COLUMNS_MAX} "
            "segment columns, each adds --top-k + 2 checks"
        )
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise UserError(f"--segment {twice[0]} is given twice; name each column once")
    top_k = _whole(args.top_k, "--top-k", SEGMENT_TOP_K_DEFAULT, 200, "segments per column")
    segment_min_rows = _whole(args.segment_min_rows, "--segment-min-rows", min_rows, None, "rows")
    return columns, top_k, segment_min_rows


def _whole(text: str | None, flag: str, default: int, most: int | None, what: str) -> int:
    """A flag's whole number of at least 1 (and at most ``most``), or ``default`` when not given."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (most is not None and value > most):
        bound = f"from 1 to {most}" if most is not None else "at least 1"
        raise UserError(f"{flag} {text!r} must be a whole number of {what}, {bound} (default {default})")
    return value


def _min_rows(text: str | None, model: Any) -> int:
    """``--min-rows``: an integer >= 1; by default the model's window.min_rows, else the daemon's default."""
    from driftwatch.defaults import MIN_ROWS_DEFAULT

    if text is None:
        return int(model.window.min_rows) if model is not None else MIN_ROWS_DEFAULT
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(
            f"--min-rows {text!r} must be a whole number of rows, at least 1 (1: a verdict on any size; "
            f"default {MIN_ROWS_DEFAULT})"
        )
    return value


def _estimates_regression(model: Any) -> bool:
    """Whether a model's settings estimate a regression's performance (DLE): its profile keeps the
    features beside each prediction and label, which DLE refits on."""
    performance = model.performance
    return performance is not None and performance.task == "regression" and performance.estimate is True


def _profile(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from driftwatch.drift.profile import ReferenceProfile
    from driftwatch.reference import ReferenceDataError, embedding_sample, load_frame, save_profile
    from driftwatch.service.preflight import class_order

    model = _model_settings(args)
    try:
        text = [f.name for f in model.features if f.type == "categorical"] if model is not None else []
        predicted = args.prediction_column or (model.prediction if model is not None else None)
        frame = load_frame(Path(args.reference), text, [predicted])
    except ReferenceDataError as exc:
        raise UserError(f"--reference {exc}") from None
    if len(frame) == 0:
        raise UserError(f"--reference {args.reference}: no rows (only a header); there is nothing to profile")
    prediction, label = args.prediction_column, args.label_column
    if model is not None:
        columns = [f.name for f in model.features] + ([model.prediction] if model.prediction else [])
        types = {f.name: f.type for f in model.features}
        prediction = prediction or model.prediction
        label = label or (model.performance.label if model.performance is not None else None)
    else:
        columns = (
            [c.strip() for c in args.columns.split(",")] if args.columns else list(map(str, frame.columns))
        )
        types = {}
    if bool(args.prediction_column) != bool(args.label_column) and not (prediction and label):
        raise UserError(
            "--prediction-column and --label-column go together: performance needs both, row by row"
        )
    if prediction and prediction not in columns:
        columns.append(prediction)  # prediction drift needs its profile too
    missing = [c for c in dict.fromkeys([*columns, *([label] if label else [])]) if c not in frame.columns]
    if missing:
        raise UserError(f"--reference {args.reference} has no column(s) {', '.join(missing)}")
    # a prediction of class probabilities: its predicted classes, ties to the configured class order
    profile = ReferenceProfile.build(frame, columns, types, class_order(model) if model is not None else None)
    if model is not None and model.embeddings:  # the bounded sample of vectors the checks compare with
        absent = sorted({e.field for e in model.embeddings.values()} - set(map(str, frame.columns)))
        if absent:
            raise UserError(f"--reference {args.reference} has no column(s) {', '.join(absent)} (embeddings)")
        try:
            samples = {
                name: embedding_sample(frame[e.field], e.dim, f"embeddings.{name}")
                for name, e in model.embeddings.items()
            }
        except ReferenceDataError as exc:
            raise UserError(f"--reference {exc}") from None
        profile = replace(profile, embeddings=samples)
    kept_columns = [prediction, label]
    if model is not None and _estimates_regression(model):  # DLE refits on the features of each row
        kept_columns = [*(f.name for f in model.features if f.name not in kept_columns), *kept_columns]
    labelled = frame[kept_columns] if prediction and label else None
    multivariate, multivariate_types = None, None
    if model is not None and model.drift.multivariate is not None:
        # the fitted model (not its rows) is kept: checks on the profile score as on the raw reference
        from driftwatch.drift.multivariate_methods import fit_multivariate
        from driftwatch.service.model_checks import multivariate_options

        multivariate_types = {c: profile.columns[c].type for c in model.multivariate_columns()}
        try:
            multivariate = {
                method: fit_multivariate(method, frame, multivariate_types, multivariate_options(model))
                for method in model.drift.multivariate.methods
            }
        except ReferenceDataError as exc:
            raise UserError(f"--reference {args.reference}: drift.multivariate: {exc}") from None
    try:
        save_profile(profile, Path(args.output), labelled, multivariate, multivariate_types)
    except ReferenceDataError as exc:
        raise UserError(f"--reference {args.reference}: {exc}") from None
    except OSError as exc:
        raise UserError(f"--output {args.output}: cannot write ({exc.strerror})") from None
    kept = (
        f"; predictions {prediction!r} with labels {label!r}"
        + (" and the features" if len(kept_columns) > 2 else "")
        + " kept for performance"
        if labelled is not None
        else ""
    )
    if multivariate:
        kept += f"; multivariate drift model(s) {', '.join(multivariate)} fitted and kept"
    vectors = "".join(f", {len(v)} vectors of embedding {name!r}" for name, v in profile.embeddings.items())
    print(f"profile of {len(columns)} columns, {profile.rows} rows{vectors} written to {args.output}{kept}")
    return 0
