"""What ``driftwatch run`` writes, proven: the image runs with a read-only root filesystem, so every path
the daemon writes must be on its state volume (/var/lib/driftwatch) or the /tmp tmpfs.

``python -m driftwatch run`` runs in a subprocess with ``tests/writeaudit`` first on PYTHONPATH: its
``sitecustomize`` installs an audit hook (`sys.addaudithook`) in every Python process of the run (the
daemon and its Kafka reader process) that logs each path opened for writing, created, renamed,
removed, each temporary file and each SQLite database opened. The environment is the image's: the
ENV of the Dockerfile's final stage (with /tmp and /var/lib/driftwatch mapped to the test's
directories), HOME and the working directory pointed at one directory (in the image both are the state
directory; here a separate one, so that a write there shows), TMPDIR at another. The daemon is driven
through checks against the real broker, an alert delivered to a webhook, /metrics, /api, the probes
and an Evidently report, and probed by ``driftwatch health`` (the image's HEALTHCHECK, audited too),
then stopped with SIGTERM.

Every written path must be under the state directory or TMPDIR. Writes the hook cannot see (SQLite's
-wal/-shm files, C libraries) would land in HOME, the working directory or the config directory:
those must be left as they were.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from tests.integration.test_deploy import final_stage
from tests.kafkautil import get, update_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

AUDIT = Path(__file__).resolve().parents[1] / "writeaudit"
SECRET = "written-paths-secret"
PER_MODEL = 1000
# the image's writable places, and the Dockerfile ENV values that point into them
CONTAINER_TMP = "/tmp"
CONTAINER_STATE = "/var/lib/driftwatch"
DEVICES = Path("/dev")  # /dev/null for a child's stdin: a device, not the root filesystem


@dataclass(frozen=True)
class Dirs:
    config: Path  # the config file and the references (read-only in the image)
    state: Path  # state.path's directory: the image's volume
    home: Path  # HOME and the working directory
    tmp: Path  # TMPDIR: the image's tmpfs
    audit: Path  # the audit log and the daemon's output (not the daemon's business)


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    found = Dirs(*(tmp_path / name for name in ("config", "state", "home", "tmp", "audit")))
    for directory in (found.config, found.state, found.home, found.tmp, found.audit):
        directory.mkdir()
    return found


def image_environment(dirs: Dirs) -> dict[str, str]:
    """The ENV of the Dockerfile's final stage, with the container's /tmp and state directory mapped to
    the test's (PATH is this machine's)."""
    mapping = ((CONTAINER_TMP, dirs.tmp), (CONTAINER_STATE, dirs.state))
    env: dict[str, str] = {}
    for word, args in final_stage():
        if word != "ENV":
            continue
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            if name == "PATH":
                continue
            for inside, outside in mapping:
                if value == inside or value.startswith(inside + "/"):
                    value = str(outside) + value[len(inside) :]
            env[name] = value
    return env


def environment(dirs: Dirs) -> dict[str, str]:
    """A container's environment: little besides the image's ENV (no XDG_* or cache variables of the
    machine running the tests), HOME and TMPDIR pointed at the test's directories."""
    python_path = [str(AUDIT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",  # as python's images set it
        **image_environment(dirs),
        "HOME": str(dirs.home),
        "TMPDIR": str(dirs.tmp),
        "PYTHONPATH": os.pathsep.join(python_path),
        "WRITE_AUDIT_LOG": str(dirs.audit / "writes.jsonl"),
        SECRET_ENV: SECRET,
    }


def tree(directory: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``directory``: relative path -> (size, mtime in ns)."""
    return {
        str(path.relative_to(directory)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in directory.rglob("*")
    }


def under(path: str, directory: Path) -> bool:
    return Path(path).is_relative_to(directory)


def produce(broker: LocalBroker, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    rng = np.random.default_rng(5)
    for model, shifted in (("credit-risk", True), ("churn", False)):
        for value in make_records(model, rng, PER_MODEL, shifted, time.time()):
            producer.send(topic, key=model.encode(), value=value)
    producer.flush()
    producer.close()


VARIANTS = {
    # kafka-python in the daemon's process, the default
    "kafka-python": {},
    # librdkafka
    "confluent": {"client": "confluent"},
    # kafka-python in a reader process (a second interpreter), scaled out with a label join: the
    # deployments' mode, whose label join lives in a temporary directory
    "scaled-out": {"reader": "process", "scale_out": {"enabled": True, "partitions": 2}},
}


def configure(dirs: Dirs, broker: LocalBroker, port: int, webhook: str, variant: str) -> tuple[Path, str]:
    """The demo models' config (references next to it) for ``variant``, and the topic it reads."""
    topic = f"predictions-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    labels = None
    if variant == "scaled-out":
        labels = f"labels-{uuid.uuid4().hex[:8]}"
        broker.create_topic(labels, partitions=2)
    config = write_demo_config(
        dirs.config, broker.bootstrap, topic, port, webhook, every="1s", window="1h", labels_topic=labels
    )

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = f"written-{uuid.uuid4().hex[:8]}"
        raw["kafka"].update(VARIANTS[variant])
        raw["state"]["path"] = str(dirs.state / "state.sqlite")

    update_config(config, change)
    return config, topic


def answers(port: int, path: str) -> bool:
    try:
        return get(port, path)[0] == 200
    except OSError:  # not listening yet
        return False


def written_paths(dirs: Dirs) -> list[dict[str, Any]]:
    log = dirs.audit / "writes.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def daemon_run(dirs: Dirs) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The daemon's process, once started; killed if the test leaves it running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_daemon_writes_only_to_its_state_directory_and_tmpdir(
    broker: LocalBroker, dirs: Dirs, daemon_run: list[subprocess.Popen[bytes]], variant: str
) -> None:
    port = free_port()
    output = dirs.audit / "daemon.log"
    with WebhookReceiver(SECRET.encode()) as receiver:
        config, topic = configure(dirs, broker, port, receiver.url, variant)
        config_before = tree(dirs.config)
        with output.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "driftwatch", "run", "--config", str(config)],
                cwd=dirs.home,
                env=environment(dirs),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        daemon_run.append(process)

        def log_tail() -> str:
            return output.read_text(encoding="utf-8", errors="replace")[-3000:]

        wait_for(lambda: process.poll() is not None or answers(port, "/readyz"), 60, log_tail)
        assert process.poll() is None, log_tail()
        produce(broker, topic)
        wait_for(lambda: receiver.received, 60, lambda: f"the drift webhook; the daemon said:\n{log_tail()}")
        assert all(hook["valid"] for hook in receiver.received)
        for path in ("/metrics", "/api/models", "/healthz", "/readyz"):
            assert get(port, path)[0] == 200, path
        status, body = get(port, "/reports/credit-risk/latest.html", timeout=120)
        assert status == 200 and b"<html" in body.lower(), body[:300]
        # the image's HEALTHCHECK, under the same audit
        health = subprocess.run(
            [sys.executable, "-m", "driftwatch", "health", "--config", str(config)],
            cwd=dirs.home,
            env=environment(dirs),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert health.returncode == 0, health.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log_tail()
    writes = written_paths(dirs)
    assert [w for w in writes if w["event"] == "audit-error"] == []
    allowed = (dirs.state, dirs.tmp, DEVICES)
    outside = sorted(
        {(w["event"], w["path"]) for w in writes if not any(under(w["path"], d) for d in allowed)}
    )
    assert outside == [], "written outside the state directory and TMPDIR:\n" + "\n".join(map(str, outside))
    # the hook sees what the daemon writes: the state file; scaled out (the state in Kafka, the local store
    # in memory), the label join in a temporary directory
    paths = {w["path"] for w in writes}
    if variant == "scaled-out":
        assert any(under(path, dirs.tmp) and path.endswith("labels.sqlite") for path in paths), paths
    else:
        assert str(dirs.state / "state.sqlite") in paths
    # stopped cleanly, it leaves nothing in the tmpfs (memory, in the image)
    assert tree(dirs.tmp) == {}, "left in TMPDIR after a clean stop"
    # what the hook cannot see (C code writing on its own) would be here
    assert tree(dirs.home) == {}, "HOME or the working directory was written"
    assert tree(dirs.config) == config_before, "the config directory was written"
