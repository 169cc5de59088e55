"""The write audit of tests/integration/test_written_paths.py sees the writes it claims to see, and no reads:
a program under it writes in every way it logs, in a Python child too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

AUDIT = Path(__file__).resolve().parents[1] / "writeaudit"

PROGRAM = textwrap.dedent(
    """
    import os, shutil, sqlite3, subprocess, sys, tempfile
    from pathlib import Path

    here = Path(sys.argv[1])
    (here / "read.txt").read_text()                      # a read: not logged
    (here / "written.txt").write_text("x")
    with open(here / "appended.txt", "a") as f:
        f.write("x")
    os.close(os.open(here / "created", os.O_CREAT | os.O_WRONLY))
    os.mkdir(here / "made")
    os.replace(here / "written.txt", here / "made" / "moved.txt")
    os.remove(here / "appended.txt")
    os.chdir(here / "made")
    Path("relative.txt").write_text("x")                 # made absolute against the working directory
    temporary = tempfile.mkdtemp(dir=here)
    sqlite3.connect(Path(temporary) / "db.sqlite").close()
    sqlite3.connect(":memory:").close()                  # no file: not logged
    shutil.rmtree(temporary)
    subprocess.run([sys.executable, "-c", f"open({str(here / 'child.txt')!r}, 'w').close()"], check=True)
    """
)


def test_the_audit_logs_every_kind_of_write_and_no_read(tmp_path: Path) -> None:
    (tmp_path / "read.txt").write_text("x", encoding="utf-8")
    log = tmp_path.parent / f"{tmp_path.name}-writes.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(AUDIT), os.environ.get("PYTHONPATH", "")]),
        "WRITE_AUDIT_LOG": str(log),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len({entry["pid"] for entry in entries}) == 2, "the child process is audited too"
    found = {(entry["event"], Path(entry["path"]).relative_to(tmp_path).as_posix()) for entry in entries}
    (temporary,) = {path for event, path in found if event == "tempfile.mkdtemp"}
    assert found >= {
        ("open", "written.txt"),
        ("open", "appended.txt"),
        ("open", "created"),
        ("os.mkdir", "made"),
        ("os.rename", "written.txt"),
        ("os.rename", "made/moved.txt"),
        ("os.remove", "appended.txt"),
        ("open", "made/relative.txt"),
        ("sqlite3.connect", f"{temporary}/db.sqlite"),
        ("shutil.rmtree", temporary),
        ("os.remove", f"{temporary}/db.sqlite"),  # rmtree's removals by dir_fd, made absolute
        ("open", "child.txt"),
    }
    assert not [path for _, path in found if path == "read.txt"]
    assert [entry for entry in entries if entry["event"] == "audit-error"] == []
