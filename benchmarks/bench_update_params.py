"""Overhead of ``OptimWrapper.update_params`` over a plain PyTorch update, measured in one run.

All variants train the same model with the same optimizer:

* plain:        ``optimizer.zero_grad(); loss.backward(); optimizer.step()``
* plain (tail): ``loss.backward(); optimizer.step(); optimizer.zero_grad()`` (the tutorial's
  loop, and the order ``update_params`` uses; for tiny models the order alone moves timings by a
  few percent, because freeing the gradients earlier or later changes allocator behaviour)
* wrapped:      ``OptimWrapper(optimizer).update_params(loss)``

Only the update is timed (the forward pass that builds ``loss`` is outside the timed region, so
the ratio is not diluted by it). Blocks of iterations rotate between the variants (the order is
reversed every other repetition, to cancel drift), after warm-up blocks. The headline figure is
the median over repetitions of the paired ratio wrapped / plain (blocks run back to back, so
load from other processes mostly cancels); the ratio of median block times is printed too.
Target: wrapped / plain <= 1.02.

Usage: python benchmarks/bench_update_params.py [--reps 60] [--iters 20] [--hidden 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migrate_optim.runtime import OptimWrapper  # noqa: E402

TARGET = 1.02


def make_model(width: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(width, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    )


def plain_block(model, optimizer, batches) -> float:
    total = 0.0
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        start = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += time.perf_counter() - start
    return total


def wrapped_block(model, wrapper, batches) -> float:
    total = 0.0
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        start = time.perf_counter()
        wrapper.update_params(loss)
        total += time.perf_counter() - start
    return total


def plain_tail_block(model, optimizer, batches) -> float:
    total = 0.0
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        start = time.perf_counter()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += time.perf_counter() - start
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=60, help="timed blocks per variant")
    parser.add_argument("--iters", type=int, default=20, help="iterations per block")
    parser.add_argument("--warmup", type=int, default=4, help="untimed blocks per variant")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = make_model(args.width, args.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    wrapper = OptimWrapper(optimizer)
    batches = [
        (torch.randn(args.batch, args.width), torch.randn(args.batch, 1))
        for _ in range(args.iters)
    ]

    variants = {
        "plain": lambda: plain_block(model, optimizer, batches),
        "plain_tail": lambda: plain_tail_block(model, optimizer, batches),
        "wrapped": lambda: wrapped_block(model, wrapper, batches),
    }
    for _ in range(args.warmup):
        for run in variants.values():
            run()

    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for rep in range(args.reps):
        for name in order if rep % 2 == 0 else reversed(order):
            times[name].append(variants[name]())

    median = {name: statistics.median(values) for name, values in times.items()}

    def paired(baseline: str) -> float:
        pairs = zip(times["wrapped"], times[baseline], strict=True)
        return statistics.median(w / b for w, b in pairs)

    ratio = paired("plain")
    print(
        f"model: MLP {args.width}-{args.hidden}x3-1, batch {args.batch}, SGD(momentum), "
        f"torch {torch.__version__}, {args.threads} thread(s)"
    )
    print(f"blocks: {args.reps} x {args.iters} iterations per variant, {args.warmup} warm-up")
    labels = {
        "plain": "plain zero_grad/backward/step",
        "plain_tail": "plain backward/step/zero_grad",
        "wrapped": "OptimWrapper.update_params",
    }
    for name, label in labels.items():
        print(f"{label:30s}: {median[name] / args.iters * 1e6:9.1f} us/iter (median)")
    print(
        "ratio of medians wrapped/plain, wrapped/plain (tail order): "
        f"{median['wrapped'] / median['plain']:.4f}, "
        f"{median['wrapped'] / median['plain_tail']:.4f}"
    )
    print(f"paired ratio wrapped/plain (tail order): {paired('plain_tail'):.4f}")
    verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
    print(f"paired ratio wrapped/plain             : {ratio:.4f}  (target <= {TARGET}: {verdict})")


if __name__ == "__main__":
    main()
