"""Throughput and peak memory of ``migrate-optim convert`` over the whole corpus, against libcst.

Each measurement is a fresh ``python`` subprocess over the same files (interpreter start-up and
imports included, as a user pays them):

* baseline ``libcst``: read every file, parse it with libcst, run an identity
  ``CSTTransformer`` over it and generate the code again, in one process: the least any libcst
  codemod pays to look at every file once;
* ``convert --check --jobs N`` (N = 1 and 2, where the CLI has ``--jobs``; otherwise the
  default): all corpus trees in one call, as a team runs it over a repository.

Rounds rotate the order (reversed every other round, to cancel drift); figures are medians.
Printed: files/s of each, the ratio of each ``convert`` to the libcst baseline, and each run's
peak RSS (``ru_maxrss`` of the process and, for ``--jobs``, of its largest worker). Target
(issue 10): at least 1,000 files/s for ``--jobs 2`` on 2 cores.

The corpus is found like the tests find it (``tests/corpus.py``: ``../shared/corpus``,
``$MIGRATE_OPTIM_CORPUS``, or a PyPI fetch into ``.corpus-cache/``).

Usage: python benchmarks/bench_convert.py [--rounds 3] [--corpus NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.corpus import CORPUS_NAMES, corpus_root  # noqa: E402

TARGET_FILES_PER_S = 1000.0

# Runs the measured command in-process and prints its peak RSS (self and children) as the last
# line of stderr, so that the parent does not need /usr/bin/time.
_WRAPPER = r"""
import json, resource, runpy, sys
argv = json.loads(sys.argv[1])
sys.argv = argv
code = 0
try:
    if argv[0] == "-libcst":
        import libcst as cst
        class Identity(cst.CSTTransformer):
            pass
        from pathlib import Path
        for name in sorted(f for root in argv[1:] for f in Path(root).rglob("*.py")):
            with open(name, encoding="utf-8") as f:
                text = f.read()
            module = cst.parse_module(text)
            module.visit(Identity()).code
    else:
        runpy.run_module("migrate_optim.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rss_kb": me, "children_rss_kb": kids, "code": code}), file=sys.stderr)
"""


def corpus_files(names: list[str]) -> tuple[list[Path], list[str]]:
    """Every ``.py`` file of the named corpora, and the tree roots to hand to ``convert``."""
    files: list[Path] = []
    roots: list[str] = []
    for name in names:
        root = corpus_root(name)
        roots.append(str(root))
        files.extend(sorted(root.rglob("*.py")))
    return files, roots


def has_jobs_option() -> bool:
    """Whether this checkout's ``convert`` takes ``--jobs``."""
    proc = subprocess.run(
        [sys.executable, "-m", "migrate_optim.cli", "convert", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    return "--jobs" in proc.stdout


def measure(argv: list[str]) -> tuple[float, dict[str, int]]:
    """Wall time of one subprocess running ``argv`` under the wrapper, and its RSS record."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(argv)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - start
    record = json.loads(proc.stderr.strip().splitlines()[-1])
    if record["code"] not in (0, 1):  # 1: `--check` found changes
        raise SystemExit(f"{argv[:3]}... exited {record['code']}:\n{proc.stderr[-2000:]}")
    return elapsed, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", nargs="*", default=list(CORPUS_NAMES))
    args = parser.parse_args()

    files, roots = corpus_files(args.corpus)
    convert = ["migrate-optim", "convert", "--check", "-q", *roots]
    commands: dict[str, list[str]] = {"baseline libcst": ["-libcst", *roots]}
    if has_jobs_option():
        commands["convert --jobs 1"] = [*convert, "--jobs", "1"]
        commands["convert --jobs 2"] = [*convert, "--jobs", "2"]
    else:
        commands["convert (no --jobs)"] = convert

    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, int] = {}
    names = list(commands)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else reversed(names):
            elapsed, record = measure(commands[name])
            times[name].append(elapsed)
            rss[name] = max(rss.get(name, 0), record["rss_kb"], record["children_rss_kb"])

    n = len(files)
    base = n / statistics.median(times["baseline libcst"])
    corpora = ", ".join(args.corpus)
    print(f"{n} files ({corpora}), {args.rounds} rounds, medians, {os.cpu_count()} cores")
    print(f"{'command':<22} {'time s':>8} {'files/s':>9} {'vs libcst':>10} {'peak RSS MiB':>13}")
    for name in commands:
        t = statistics.median(times[name])
        rate = n / t
        print(f"{name:<22} {t:8.2f} {rate:9.0f} {rate / base:9.2f}x {rss[name] / 1024:13.0f}")
    best = max(n / statistics.median(times[k]) for k in commands if k.startswith("convert"))
    verdict = "meets" if best >= TARGET_FILES_PER_S else "misses"
    target = f"{TARGET_FILES_PER_S:.0f}"
    print(f"target >= {target} files/s: best convert {best:.0f} files/s ({verdict})")


if __name__ == "__main__":
    main()
