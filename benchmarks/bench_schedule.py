"""Time to compare a whole 160k-iteration schedule, against stepping MMEngine's schedulers.

The pair: MMSegmentation's 160k poly schedule with a linear warmup (swin/convnext style:
``poly, power=1.0, min_lr=0.0, warmup='linear', warmup_iters=1500, warmup_ratio=1e-6`` on an
``IterBasedRunner(max_iters=160000)``) and its exact 1.x form (``LinearLR(end=1501)`` +
``PolyLR(end=160001)`` in an ``IterBasedTrainLoop``).

* ``compare``: :func:`migrate_optim.verify.schedule.compare_schedules` — both whole schedules
  traced (mmcv hooks and MMEngine schedulers, our implementations) and compared per iteration;
* baseline ``mmengine``: the same two real MMEngine 0.10.7 schedulers built on a torch SGD
  optimizer and stepped 160k times (what merely running the 1.x schedule costs; needs
  mmengine-lite, skipped otherwise).

Rounds alternate the order; medians are printed with the ratio. Target: ``compare`` under 1 s.

Usage: python benchmarks/bench_schedule.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from migrate_optim.verify.schedule import compare_schedules

MAX_ITERS = 160_000
OLD = dict(
    optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4),
    lr_config=dict(
        policy="poly",
        power=1.0,
        min_lr=0.0,
        by_epoch=False,
        warmup="linear",
        warmup_iters=1500,
        warmup_ratio=1e-6,
    ),
    runner=dict(type="IterBasedRunner", max_iters=MAX_ITERS),
)
SCHEDULERS = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(type="PolyLR", power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=MAX_ITERS + 1),
]
NEW = dict(
    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4)),
    param_scheduler=SCHEDULERS,
    train_cfg=dict(type="IterBasedTrainLoop", max_iters=MAX_ITERS),
)


def run_compare() -> float:
    start = time.perf_counter()
    result = compare_schedules(OLD, NEW, codebase="mmseg")
    elapsed = time.perf_counter() - start
    assert result.status == "identical", result.messages()
    assert result.compared_iterations == MAX_ITERS
    return elapsed


def run_mmengine() -> float | None:
    try:
        import torch
        from mmengine.optim.scheduler import LinearLR, PolyLR
    except ImportError:
        return None
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01, momentum=0.9)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain = [
            LinearLR(opt, **{k: v for k, v in SCHEDULERS[0].items() if k != "type"}),
            PolyLR(opt, **{k: v for k, v in SCHEDULERS[1].items() if k != "type"}),
        ]
        for _ in range(MAX_ITERS):
            for scheduler in chain:
                scheduler.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours: list[float] = []
    base: list[float] = []
    for i in range(args.rounds):
        order = (run_compare, run_mmengine) if i % 2 == 0 else (run_mmengine, run_compare)
        for fn in order:
            value = fn()
            if value is not None:
                (ours if fn is run_compare else base).append(value)
    compare = statistics.median(ours)
    print(f"compare 160k-iteration schedules (both sides, per iteration): {compare:.3f} s")
    if base:
        mmengine = statistics.median(base)
        print(f"step the real MMEngine schedulers 160k times (one side only): {mmengine:.3f} s")
        print(f"ratio compare / mmengine stepping: {compare / mmengine:.2f}")
    else:
        print("mmengine not importable: baseline skipped")
    print(f"target: compare under 1 s -> {'met' if compare < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
