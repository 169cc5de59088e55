"""One benchmark at two revisions, in the same run: did a change move the figures?

A restructuring must leave speed alone, and these machines are shared and
noisy, so figures taken an hour apart do not compare. This script exports the
base revision (``git archive``) next to the working tree, then runs the same
benchmark script from each tree in turn, alternating base and head for every
repeat so both see the same machine. From each run it keeps the output lines
matching ``--lines`` and the numbers on them; it prints, per line, the median
of each number at base and head and their ratio (numbers equal at both,
such as sizes, are left out).

    python bench/revisions.py caebdbe -- drift_vs_evidently.py --sizes 100000 --runs 3 --evidently-runs 1
    python bench/revisions.py caebdbe --repeats 3 --lines 'records/s' -- ingest.py --records 100000 --repeats 1

Each tree runs its own copy of the benchmark against its own ``src`` (module
paths may differ between revisions), with the interpreter running this script.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def export(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (committed files only) unpacked below ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(tree: Path, script: str, args: list[str], lines: re.Pattern[str]) -> list[tuple[str, list[float]]]:
    """The matching output lines of one run, each with the numbers on it."""
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / script), *args],
        cwd=tree,
        env={**_environ(), "PYTHONPATH": f"{tree / 'src'}:{tree}"},
        capture_output=True,
        text=True,
        check=False,
    )
    kept = []
    for line in proc.stdout.splitlines():
        if lines.search(line):
            numbers = [float(n.replace(",", "")) for n in NUMBER.findall(line)]
            kept.append((NUMBER.sub("#", line).strip(), numbers))
    if not kept:  # a benchmark may exit 1 for a missed target (a verdict); only no figures is a failure
        sys.exit(
            f"{script} printed no figures in {tree} (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return kept


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="the revision to compare against (a commit, tag or branch)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per revision, alternating (median kept)")
    parser.add_argument(
        "--lines",
        default=r"records/s|driftwatch +\d|evidently +\d",
        help="regular expression choosing the output lines whose numbers are compared",
    )
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:cut])
    bench = argv[cut + 1 :]
    if not bench:
        parser.error("name the benchmark after --, e.g. -- drift_vs_evidently.py --sizes 100000")
    script, args = bench[0], bench[1:]
    lines = re.compile(options.lines)
    with tempfile.TemporaryDirectory(prefix="driftwatch-base-") as tmp:
        trees = {"base": export(options.base, Path(tmp)), "head": ROOT}
        runs: dict[str, list[list[tuple[str, list[float]]]]] = {"base": [], "head": []}
        for repeat in range(options.repeats):
            for name, tree in trees.items():
                runs[name].append(run(tree, script, args, lines))
                print(f"repeat {repeat + 1}/{options.repeats}: {name} done", file=sys.stderr)
    print(
        f"{script} {' '.join(args)}: base {options.base} vs head (working tree), medians of {options.repeats}"
    )
    for index, (shape, _) in enumerate(runs["head"][0]):
        base_numbers = _medians([r[index][1] for r in runs["base"] if index < len(r)])
        head_numbers = _medians([r[index][1] for r in runs["head"]])
        pairs = [
            f"{_figure(b)} -> {_figure(h)}" + (f" (x{h / b:.2f})" if b else "")
            for b, h in zip(base_numbers, head_numbers, strict=False)
            if b != h
        ]
        print(f"  {shape}\n      " + ("; ".join(pairs) if pairs else "same figures"))


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _medians(rows: list[list[float]]) -> list[float]:
    width = min((len(r) for r in rows), default=0)
    return [statistics.median(r[i] for r in rows) for i in range(width)]


if __name__ == "__main__":
    main()
