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
``verify`` of a typical pair under 2 s on CPU, torch import included.

Usage: python benchmarks/bench_verify.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "verify"
TARGET_S = 2.0

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
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
    verdict = "meets" if median["verify sgd"] < TARGET_S else "misses"
    print(
        f"target: verify of a typical pair < {TARGET_S:.1f} s on CPU: {verdict} it "
        f"({median['verify sgd']:.2f} s; import torch alone takes "
        f"{median['baseline import']:.2f} s here)"
    )


if __name__ == "__main__":
    main()
