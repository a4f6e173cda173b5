"""Wall time of one ``migrate-optim verify`` of a typical pair, against baselines in the same run.

Each measurement is a fresh ``python`` subprocess (interpreter start-up and ``import torch``
included, as a user pays them):

* baseline ``import``: ``python -c "import torch"``;
* baseline ``train``: ``import torch`` plus one SGD step on a one-layer model: the least any
  PyTorch training process pays (torch's optimizer ``step`` imports ``torch._dynamo`` on first
  use, which costs about as much again as ``import torch``);
* ``verify sgd``: the issue's SGD pair (``tests/fixtures/verify/sgd_0x.py`` / ``sgd_1x.py``), the
  typical single-optimizer pair;
* ``verify biggan``: the BigGAN-128 pair of the MMGeneration migration doc (20 iterations, GAN
  schedules on both sides).

Commands rotate (order reversed every other round, to cancel drift); the figures are medians.
Printed: absolute medians, and the ratios of each ``verify`` to both baselines. Target: one
``verify`` of a typical pair under 2 s on CPU, torch import included; single-verify overhead
above ``import torch`` at most 0.3 s (issue 10).

Batch (issue 10, skipped with ``--no-batch``): the shared corpus tree ``--batch-corpus`` (default
mmsegmentation) is converted into a temporary mirror, and ``--pairs`` (default 60) of its
changed configs are verified as (original, converted) pairs with a 10-step smoke-train on the
probe: once by ``verify --pairs FILE -j N`` (one process, torch imported once, a fork per
pair), and, as the baseline in the same run, the first ``--baseline-pairs`` of them by one
``verify OLD NEW`` process each. Printed: pairs/s of both and their ratio. Target: at least 30
pairs/s on 2 cores.

Usage: python benchmarks/bench_verify.py [--rounds 5] [--pairs 60] [--jobs N] [--no-batch]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "verify"
TARGET_S = 2.0
TARGET_OVERHEAD_S = 0.3
TARGET_PAIRS_PER_S = 30.0

TRAIN_SNIPPET = (
    "import torch; m = torch.nn.Linear(4, 1); o = torch.optim.SGD(m.parameters(), lr=0.1); "
    "m(torch.ones(2, 4)).sum().backward(); o.step()"
)


def commands() -> dict[str, list[str]]:
    py = sys.executable
    cli = [py, "-m", "migrate_optim.cli", "verify"]
    return {
        "baseline import": [py, "-c", "import torch"],
        "baseline train": [py, "-c", TRAIN_SNIPPET],
        "verify sgd": [*cli, str(FIXTURES / "sgd_0x.py"), str(FIXTURES / "sgd_1x.py")],
        "verify biggan": [
            *cli,
            str(FIXTURES / "biggan128_0x.py"),
            str(FIXTURES / "biggan128_1x.py"),
        ],
    }


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()}")
    return elapsed


def corpus_pairs(tmp: Path, corpus: str, limit: int) -> list[tuple[str, str]]:
    """(original, converted) paths of up to ``limit`` changed configs of a corpus tree."""
    from migrate_optim.convert.engine import EngineOptions, Mode, Status, run
    from tests.corpus import corpus_root

    old_root = tmp / "old" / corpus  # the folder name tells the codebase
    shutil.copytree(corpus_root(corpus), old_root)
    report = run([str(old_root)], EngineOptions(mode=Mode.OUT_DIR, out_dir=tmp / "new"))
    pairs = []
    for file in report.files:
        if file.status is Status.CHANGED and file.written and "_base_" not in file.path:
            pairs.append((file.path, file.written))
    return pairs[:limit]


def batch(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Batch verify pairs/s against one process per pair, in the same run."""
    cli = [sys.executable, "-m", "migrate_optim.cli", "verify", "--steps", "10", "--json"]
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        pairs = corpus_pairs(Path(tmp), args.batch_corpus, args.pairs)
        listing = Path(tmp) / "pairs.txt"
        listing.write_text("".join(f"{old} {new}\n" for old, new in pairs), encoding="utf-8")
        jobs = ["-j", str(args.jobs)] if args.jobs else []
        start = time.perf_counter()
        proc = subprocess.run(
            [*cli, "--pairs", str(listing), *jobs], cwd=tmp, env=env, capture_output=True
        )
        batch_s = time.perf_counter() - start
        statuses = collections.Counter(
            json.loads(line)["status"] for line in proc.stdout.decode().splitlines()
        )
        if sum(statuses.values()) != len(pairs):
            raise SystemExit(f"verify --pairs gave {statuses}:\n{proc.stderr.decode()[-2000:]}")
        single = pairs[: args.baseline_pairs]
        start = time.perf_counter()
        for old, new in single:
            subprocess.run([*cli, old, new], cwd=tmp, env=env, capture_output=True)
        single_s = time.perf_counter() - start
    rate, base = len(pairs) / batch_s, len(single) / single_s
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"batch verify: {len(pairs)} {args.batch_corpus} pairs (10 steps, probe), "
        f"{args.jobs or cores} jobs on {cores} cores: {batch_s:.1f} s = {rate:.1f} pairs/s "
        f"({dict(statuses)}); one process per pair ({len(single)} pairs): {base:.2f} pairs/s; "
        f"ratio {rate / base:.1f}x; target >= {TARGET_PAIRS_PER_S:.0f} pairs/s: "
        f"{'meets' if rate >= TARGET_PAIRS_PER_S else 'misses'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--batch-corpus", default="mmsegmentation-0.30.0")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--baseline-pairs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmds = commands()
    for cmd in cmds.values():  # warm the file cache (first imports read .pyc from disk)
        time_once(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    names = list(cmds)
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times[name].append(time_once(cmds[name], env))

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, medians (min..max):")
    for name in names:
        print(
            f"  {name:16s} {median[name]:6.2f} s  "
            f"({min(times[name]):.2f}..{max(times[name]):.2f})"
        )
    for name in ("verify sgd", "verify biggan"):
        print(
            f"{name}: {median[name]:.2f} s = {median[name] / median['baseline import']:.2f}x "
            f"import torch, {median[name] / median['baseline train']:.2f}x a minimal torch "
            f"training process; over the minimal process: "
            f"{median[name] - median['baseline train']:+.2f} s"
        )
    overhead = median["verify sgd"] - median["baseline import"]
    print(
        f"single verify overhead above import torch: {overhead:+.2f} s (target <= "
        f"{TARGET_OVERHEAD_S} s: {'meets' if overhead <= TARGET_OVERHEAD_S else 'misses'}); "
        f"above import torch + one optimizer step: "
        f"{median['verify sgd'] - median['baseline train']:+.2f} s"
    )
    if not args.no_batch:
        batch(args, env)
    verdict = "meets" if median["verify sgd"] < TARGET_S else "misses"
    print(
        f"target: verify of a typical pair < {TARGET_S:.1f} s on CPU: {verdict} it "
        f"({median['verify sgd']:.2f} s; import torch alone takes "
        f"{median['baseline import']:.2f} s here)"
    )


if __name__ == "__main__":
    main()
