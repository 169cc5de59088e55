"""The ``driftwatch`` command: run | validate-config | schema | demo.

Errors a user can cause (bad config, unreadable reference, busy port) are
printed as one clear message and exit with status 2, never as a traceback.
Heavy imports (pandas, scipy, kafka) happen inside the subcommands, so
``driftwatch --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from driftwatch import __version__

__all__ = ["main"]

EXIT_USAGE = 2


class UserError(Exception):
    """An error the user can fix; its message is printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwatch",
        description="Watch deployed ML models: drift from Kafka prediction logs to metrics and webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"driftwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override log_level")

    validate = sub.add_parser("validate-config", help="check a config file and exit (0 = valid)")
    validate.add_argument("config", help="YAML config file")

    sub.add_parser("schema", help="print the JSON Schema of the config file")

    demo = sub.add_parser("demo", help="run the whole pipeline locally on generated data and show drift")
    demo.add_argument("--seconds", type=float, default=90.0, help="stop after this long (default 90)")
    demo.add_argument("--shift-after", type=float, default=30.0, help="start drifting after this long")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args.config, args.log_level)
        if args.command == "validate-config":
            return _validate(args.config)
        if args.command == "schema":
            from driftwatch.config import json_schema

            print(json.dumps(json_schema(), indent=2))
            return 0
        if args.command == "demo":
            from driftwatch.demo import run_demo

            return run_demo(seconds=args.seconds, shift_after=args.shift_after)
    except UserError as exc:
        print(f"driftwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


def _load(path: str):  # type: ignore[no-untyped-def]
    from driftwatch.config import ConfigError, load_settings

    try:
        return load_settings(path)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _validate(path: str) -> int:
    settings = _load(path)
    from driftwatch.reference import ReferenceError, load_reference

    for name, model in settings.models.items():
        try:
            profile, _ = load_reference(name, model)
        except ReferenceError as exc:
            raise UserError(str(exc)) from None
        print(
            f"model {name}: reference {model.reference} ({profile.rows} rows, {len(model.features)} features)"
        )
    print(f"{path}: valid")
    return 0


def _run(path: str, log_level: str | None) -> int:
    settings = _load(path)
    logging.basicConfig(
        level=log_level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its own retries are reported by driftwatch
    from driftwatch.daemon import Daemon
    from driftwatch.reference import ReferenceError

    try:
        daemon = Daemon(settings)
    except (ReferenceError, OSError) as exc:
        raise UserError(str(exc)) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("driftwatch").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    while not stop.wait(0.5):
        pass
    daemon.stop(timeout=10.0)
    return 0
