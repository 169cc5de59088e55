"""The ``driftwatch`` command in the test's own process, or in a fresh one: exit code, stdout, stderr.

    result = driftwatch_cli("validate-config", str(path))
    assert result.returncode == 2 and "unknown key" in result.stderr

`driftwatch_cli` calls `driftwatch.cli.main.main` as ``python -m driftwatch`` does, with the
DRIFTWATCH_* environment variables removed, from ``cwd`` when given, and answers in the shape of
`subprocess.CompletedProcess`. It saves the interpreter start and the imports of every run (seconds
each). Tests about the process itself (start-up time, what a fresh interpreter imports, the entry
point's exit code, warnings printed on stderr, `run` once it has started) use `driftwatch_process`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from driftwatch.cli.main import main

__all__ = ["CliResult", "driftwatch_cli", "driftwatch_process"]


@dataclass(frozen=True)
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """``run`` sets logging up for its process (root handlers and level, the kafka logger's level):
    undone afterwards, so one command does not change the logging of the tests after it."""
    root, kafka = logging.getLogger(), logging.getLogger("kafka")
    handlers, level, kafka_level = root.handlers[:], root.level, kafka.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        kafka.setLevel(kafka_level)


@contextlib.contextmanager
def _without_driftwatch_environment() -> Iterator[None]:
    saved = {name: value for name, value in os.environ.items() if name.startswith("DRIFTWATCH_")}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


def driftwatch_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """``driftwatch ARGS`` in this process; an argparse exit (usage error, --help) is an exit code too."""
    out, err = io.StringIO(), io.StringIO()
    with (
        _without_driftwatch_environment(),
        _logging_restored(),
        contextlib.chdir(cwd or os.getcwd()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as exc:  # as the interpreter ends on it: a text is printed, and exits 1
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=err)
                code = 1
    return CliResult(list(args), code, out.getvalue(), err.getvalue())


def driftwatch_process(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m driftwatch ARGS`` in a fresh interpreter, without the DRIFTWATCH_* variables: for what
    is about the process (start-up time and imports, the entry point's exit code, stderr as a user sees it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "driftwatch", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
