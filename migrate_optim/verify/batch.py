"""Verifying many pairs in one run: ``verify --pairs FILE`` and ``convert --verify``.

One process imports torch and the verify code once, then forks one child per pair, up to
``jobs`` at a time: a child starts with everything imported (copy-on-write) and trains only its
own pair, so that pairs stay isolated: a crash (even a segfault) or a hang in one pair is that
pair's ``error`` report, after ``timeout`` seconds for a hang, and the other pairs go on.
Reports come back in the order the pairs were given, as each is ready; each is the
:class:`~migrate_optim.verify.report.VerifyReport` that a single ``verify`` of the pair gives.

Where ``fork`` does not exist the pairs are verified one after the other in this process
(no isolation, same reports).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrate_optim.convert.workers import default_jobs
from migrate_optim.verify.api import VerifyOptions, _error, verify_files
from migrate_optim.verify.report import VerifyReport

#: seconds one pair may take before it is stopped and reported as an error
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Pair:
    """One (OLD, NEW) pair and the keyword arguments of its :func:`verify_files` call."""

    old: str
    new: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, str]:
        """How the report names OLD and NEW."""
        return self.extra.get("old_name") or self.old, self.extra.get("new_name") or self.new


class PairsFileError(ValueError):
    """A ``--pairs`` file line that is not ``OLD NEW``."""


def read_pairs(lines: Iterable[str], name: str = "pairs") -> list[Pair]:
    """The pairs of a ``--pairs`` file: one ``OLD NEW`` per line (paths separated by
    whitespace); blank lines and lines starting with ``#`` are skipped."""
    pairs = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2:
            raise PairsFileError(f"{name}:{number}: expected 'OLD NEW', got {text!r}")
        pairs.append(Pair(parts[0], parts[1]))
    return pairs


#: the pair verified once before forking: every lazy import and first-call set-up of torch
#: and of the config loader (``torch._dynamo`` on the first optimizer step, kernels, the probe)
#: is then paid once, not once per pair
_WARM_OLD = """optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict(grad_clip=None)
"""
_WARM_NEW = """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005),
    clip_grad=None)
"""


def _warm(options: VerifyOptions) -> None:
    """Verify a tiny built-in pair here, on one thread (as every pair trains: no thread pool
    exists when the children are forked), so that the children start warm."""
    warm = VerifyOptions(device="cpu", steps=2, codebase="mmdet", model=options.model)
    with tempfile.TemporaryDirectory(prefix="migrate-optim-warm-") as tmp:
        paths = []
        for name, text in (("old.py", _WARM_OLD), ("new.py", _WARM_NEW)):
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w", encoding="utf-8") as fh:
                fh.write(text)
        with contextlib.suppress(Exception):
            verify_files(paths[0], paths[1], warm)


def verify_many(
    pairs: Sequence[Pair],
    options: VerifyOptions | None = None,
    *,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[VerifyReport]:
    """Verify every pair (see the module docstring); yields the reports in the given order."""
    options = options or VerifyOptions()
    if not hasattr(os, "fork"):
        for pair in pairs:
            yield verify_files(pair.old, pair.new, options, **pair.extra)
        return
    _warm(options)
    jobs = max(1, jobs or default_jobs())
    done: dict[int, VerifyReport] = {}
    running: dict[int, _Child] = {}
    selector = selectors.DefaultSelector()
    following, started = 0, 0
    try:
        while following < len(pairs):
            while started < len(pairs) and len(running) < jobs:
                child = _Child.start(started, pairs[started], options, timeout)
                running[started] = child
                selector.register(child.fd, selectors.EVENT_READ, child)
                started += 1
            deadline = min(c.deadline for c in running.values())
            for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                child = key.data
                if child.read():
                    selector.unregister(child.fd)
                    done[child.index] = child.finish(options)
                    del running[child.index]
            now = time.monotonic()
            for child in [c for c in running.values() if c.deadline <= now]:
                selector.unregister(child.fd)
                done[child.index] = child.kill(options)
                del running[child.index]
            while following in done:
                yield done.pop(following)
                following += 1
    finally:
        for child in running.values():  # the caller stopped early
            with contextlib.suppress(OSError):
                selector.unregister(child.fd)
            child.kill(options)
        selector.close()


@dataclass
class _Child:
    """One forked child verifying one pair and sending back its pickled report."""

    index: int
    pair: Pair
    pid: int
    fd: int
    deadline: float
    timeout: float
    chunks: list[bytes] = field(default_factory=list)

    @classmethod
    def start(cls, index: int, pair: Pair, options: VerifyOptions, timeout: float) -> _Child:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            code = 0
            try:
                report = verify_files(pair.old, pair.new, options, **pair.extra)
                data = pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - any failure is this pair's error
                old, new = pair.names
                message = f"internal error: {type(exc).__name__}: {exc}"
                data = pickle.dumps(_error(old, new, options, message))
                code = 1
            try:
                with os.fdopen(write_fd, "wb") as out:
                    out.write(data)
            finally:
                os._exit(code)
        os.close(write_fd)
        return cls(index, pair, pid, read_fd, time.monotonic() + timeout, timeout)

    def read(self) -> bool:
        """Read what is available; True at the end of the child's output."""
        data = os.read(self.fd, 1 << 20)
        if data:
            self.chunks.append(data)
            return False
        return True

    def finish(self, options: VerifyOptions) -> VerifyReport:
        """The child's report (it has closed its end), or an error saying how it died."""
        os.close(self.fd)
        _pid, status = os.waitpid(self.pid, 0)
        try:
            report = pickle.loads(b"".join(self.chunks))
        except Exception:  # noqa: BLE001 - nothing (or half a report) came back
            report = None
        if isinstance(report, VerifyReport):
            return report
        old, new = self.pair.names
        if os.WIFSIGNALED(status):
            how = f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exited with status {os.WEXITSTATUS(status)}"
        return _error(old, new, options, f"verify crashed ({how}) without a report")

    def kill(self, options: VerifyOptions) -> VerifyReport:
        """Stop a child that ran out of time; its error report."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        old, new = self.pair.names
        return _error(old, new, options, f"timed out after {self.timeout:g} s (pair stopped)")
