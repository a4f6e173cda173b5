"""Worker processes for ``convert --jobs N``: the same work, spread over forked processes.

The parent prepares everything a conversion depends on (every input read and registered with
the converter), then forks: each worker inherits that state as it is, converts chunks of
consecutive inputs (neighbours share ``_base_`` files, which each worker reads and converts once)
and sends back only small results. Results are applied in input order, so the output does not
depend on the number of workers or on which worker did what.

Only where ``fork`` exists (Linux, macOS); elsewhere :func:`run_parallel` declines and the
caller converts in its own process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: fewer inputs than this per worker are converted in the calling process (forking costs more)
MIN_PER_WORKER = 16

# What the forked workers run: set just before the pool forks, read by _work in the children.
_TASK: tuple[Sequence[Any], Callable[[Any], Any]] | None = None


def default_jobs() -> int:
    """The number of CPU cores this process may use (the default of ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


def _work(span: tuple[int, int]) -> list[Any]:
    assert _TASK is not None
    items, work = _TASK
    return [work(items[i]) for i in range(*span)]


def run_parallel(
    items: Sequence[T],
    work: Callable[[T], Any],
    apply: Callable[[T, Any], None],
    workers: int,
) -> bool:
    """Run ``work(item)`` for every item in ``workers`` forked processes and ``apply(item,
    result)`` here, in order. Returns False, having done nothing, when it would not pay off or
    ``fork`` is unavailable (the caller then does the work itself)."""
    global _TASK
    workers = min(workers, len(items) // MIN_PER_WORKER)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    # several chunks per worker balance the load; consecutive items share their bases
    size = max(1, -(-len(items) // (workers * 4)))
    spans = [(start, min(start + size, len(items))) for start in range(0, len(items), size)]
    _TASK = (items, work)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for (start, _end), results in zip(spans, pool.imap(_work, spans)):
                for offset, result in enumerate(results):
                    apply(items[start + offset], result)
    finally:
        _TASK = None
    return True
