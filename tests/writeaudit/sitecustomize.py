"""Which paths does a Python program write? Put this directory first on PYTHONPATH and set
WRITE_AUDIT_LOG to a file: every Python process started with that environment (the program and any
Python child it starts, such as the Kafka reader process) imports this module at start-up as
``sitecustomize`` and appends one JSON line per write to the log::

    {"event": "open", "path": "/abs/path", "pid": 123}

A write is: a file opened for writing, appending or creating (``open``, ``os.open``), a directory
made or removed, a rename/replace (both ends), a removal, a link, a truncation, a change of mode,
owner or times, a temporary file or directory (``tempfile``), shutil's copies and removals, an
SQLite database opened for writing, a Unix socket bound to a path. Relative paths are made absolute
against the working directory at the time, or against the directory a ``dir_fd`` refers to.

What it cannot see: writes made by C code on its own (SQLite's -wal/-shm/-journal files next to the
database it opened, librdkafka); a test checks those by looking at the directories afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

LOG_ENV = "WRITE_AUDIT_LOG"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# event -> positions of (path, dir_fd) pairs among its arguments
PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.mkdir": ((0, 2),),
    "os.rmdir": ((0, 1),),
    "os.remove": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)),
    "os.link": ((1, 3),),
    "os.symlink": ((1, 2),),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.mkfifo": ((0, 1),),
    "os.mknod": ((0, 1),),
    "shutil.copyfile": ((1, None),),
    "shutil.copymode": ((1, None),),
    "shutil.copystat": ((1, None),),
    "shutil.copytree": ((1, None),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.rmtree": ((0, 1),),
    "shutil.chown": ((0, None),),
    "tempfile.mkstemp": ((0, None),),
    "tempfile.mkdtemp": ((0, None),),
}

_guard = threading.local()


def _absolute(path: Any, dir_fd: Any = None) -> str | None:
    if isinstance(path, int) or path is None:
        return None  # a file descriptor: its opening was logged
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if isinstance(dir_fd, int) and not os.path.isabs(text):
        try:
            return os.path.normpath(os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text))
        except OSError:
            return f"<dir_fd {dir_fd}>/{text}"
    return os.path.abspath(text)


def _written(event: str, args: tuple[Any, ...]) -> list[str]:
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        )
        found = _absolute(path) if writes else None
        return [found] if found else []
    if event == "sqlite3.connect":
        database = args[0]
        if isinstance(database, (str, bytes, os.PathLike)):
            name = os.fsdecode(os.fspath(database))
            if name in ("", ":memory:"):
                return []
            if name.startswith("file:"):
                parts = urlsplit(name)
                if "mode=ro" in parts.query or "mode=memory" in parts.query:
                    return []
                name = unquote(parts.path)
            found = _absolute(name)
            return [found] if found else []
        return []
    if event == "socket.bind":
        address = args[1]
        if isinstance(address, (str, bytes)) and address[:1] not in ("\0", b"\0"):
            found = _absolute(address)
            return [found] if found else []
        return []
    out = []
    for position, fd_position in PATH_EVENTS.get(event, ()):
        if position < len(args):
            dir_fd = args[fd_position] if fd_position is not None and fd_position < len(args) else None
            found = _absolute(args[position], dir_fd)
            if found:
                out.append(found)
    return out


def _install(log_path: str) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    pid = os.getpid()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event != "open" and event not in PATH_EVENTS and event not in ("sqlite3.connect", "socket.bind"):
            return
        if getattr(_guard, "busy", False):
            return
        _guard.busy = True
        try:
            for path in _written(event, args):
                line = json.dumps({"event": event, "path": path, "pid": pid}) + "\n"
                os.write(log, line.encode("utf-8", "surrogateescape"))
        except Exception as exc:  # never break the program under audit; say what went wrong instead
            os.write(
                log, (json.dumps({"event": "audit-error", "path": repr(exc), "pid": pid}) + "\n").encode()
            )
        finally:
            _guard.busy = False

    sys.addaudithook(hook)


if os.environ.get(LOG_ENV):
    _install(os.environ[LOG_ENV])
