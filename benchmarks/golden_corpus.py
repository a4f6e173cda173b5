"""Prove a refactor leaves ``convert`` byte-identical on the shared corpus.

``--record FILE`` converts every config of the three corpus trees (each tree as one run, the
way ``migrate-optim convert --diff TREE`` does, nothing written) and stores one line per file:
its status, a hash of its converted text and a hash of its findings. ``--compare FILE`` does
the same and lists every file whose line differs; the exit status is 1 if any does.

Keep the golden file outside the repository: it describes one machine's corpus, not the code.
Usage::

    python benchmarks/golden_corpus.py --record /tmp/golden.txt   # before the change
    python benchmarks/golden_corpus.py --compare /tmp/golden.txt  # after it
    python benchmarks/golden_corpus.py --compare /tmp/golden.txt --jobs 2  # forked workers
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from migrate_optim.convert.engine import EngineOptions, Mode, run  # noqa: E402
from tests.corpus import CORPUS_NAMES, corpus_root  # noqa: E402


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def snapshot(names: tuple[str, ...] = CORPUS_NAMES, jobs: int = 1) -> dict[str, str]:
    """``tree/relative path`` -> ``status text-hash findings-hash`` for every corpus config
    (``jobs``: the engine's worker processes, as ``convert --jobs``)."""
    lines: dict[str, str] = {}
    for name in names:
        root = corpus_root(name)
        report = run([str(root)], EngineOptions(mode=Mode.DIFF, jobs=jobs))
        for file in report.files:
            rel = Path(file.path).resolve().relative_to(root.resolve()).as_posix()
            findings = [f.to_dict() for f in file.findings]
            error = None
            if file.error is not None:
                error = {"line": file.error.line, "cause": file.error.cause}
            text = _digest(file.diff or "")
            found = _digest(json.dumps([findings, error], sort_keys=True))
            lines[f"{name}/{rel}"] = f"{file.status.value} {text} {found}"
    return lines


def main(argv: list[str] | None = None) -> int:
    """Record or compare the corpus snapshot; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path, help="write the snapshot to this file")
    group.add_argument("--compare", type=Path, help="compare with the snapshot in this file")
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes, as convert --jobs (default 1)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    now = snapshot(jobs=args.jobs)
    took = time.perf_counter() - start
    if args.record:
        args.record.write_text("".join(f"{k} {v}\n" for k, v in sorted(now.items())))
        print(f"recorded {len(now)} configs in {took:.0f}s to {args.record}")
        return 0
    then = dict(
        line.split(" ", 1) for line in args.compare.read_text().splitlines() if line.strip()
    )
    differ = sorted(k for k in then.keys() | now.keys() if then.get(k) != now.get(k))
    for key in differ:
        print(f"{key}: was {then.get(key)!r}, now {now.get(key)!r}")
    same = len(now) - len([k for k in differ if k in now])
    print(f"{same} of {len(now)} configs identical, {len(differ)} differ ({took:.0f}s)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
