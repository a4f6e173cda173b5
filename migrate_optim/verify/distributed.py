"""``verify --nproc N``: both trainings under ``torch.distributed`` with DDP-wrapped models.

``N`` processes are spawned on this machine (``gloo`` on CPU, ``NCCL`` on CUDA with one GPU per
process; rendezvous on ``127.0.0.1`` only). Every process builds the same model, wraps it in
:class:`~torch.nn.parallel.DistributedDataParallel` (a single-optimizer model as a whole; the
children of a GAN each on their own, as MMEngine's ``MMSeparateDistributedDataParallel`` does),
reads its own data (``step * N + rank``) and trains the 0.x and the 1.x side.

A DDP communication hook counts the gradient all-reduce calls of every iteration. mmcv's
optimizer hooks never enter ``no_sync``, so a 0.x cumulative hook all-reduces on every
iteration; MMEngine's ``optim_context`` enters ``no_sync`` on iterations that do not update, so
the 1.x side all-reduces only at the end of each accumulation window. Rank 0's traces (the
parameters are identical on every rank) come back to the caller.
"""

from __future__ import annotations

import datetime
import os
import pickle
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from migrate_optim.verify.models import ModelDriver
from migrate_optim.verify.plan import NewPlan, OldPlan, VerifyError
from migrate_optim.verify.trace import SideTrace

__all__ = ["AllReduceCounter", "distributed_available", "run_distributed"]

_TIMEOUT = datetime.timedelta(seconds=120)


def distributed_available(device: str = "cpu") -> bool:
    """Whether ``torch.distributed`` with the backend ``device`` needs is usable here."""
    if not dist.is_available():
        return False
    if device == "cuda":
        return dist.is_nccl_available() and torch.cuda.is_available()
    return dist.is_gloo_available()


class AllReduceCounter:
    """A DDP comm hook that all-reduces as DDP does by default and counts calls per iteration."""

    def __init__(self) -> None:
        # The trainer's StepClock (train_pair sets it): its ``iteration`` is the current one.
        self.clock: Any = None
        self.counts: dict[int, int] = {}

    # No annotations: DDP checks that ``bucket`` is annotated with the GradBucket class itself,
    # which postponed (string) annotations are not.
    def hook(self, state, bucket):  # noqa: ANN001, ANN201
        """Count the call, then average the bucket over the process group (DDP's default)."""
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        iteration = self.clock.iteration if self.clock is not None else 0
        self.counts[iteration] = self.counts.get(iteration, 0) + 1
        return allreduce_hook(state, bucket)

    def per_iteration(self, steps: int) -> list[int]:
        """Calls in each iteration ``0 .. steps-1``."""
        return [self.counts.get(i, 0) for i in range(steps)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wrapper(device: str, rank: int, counters: dict[str, AllReduceCounter]) -> Any:
    """The ``wrap`` callback of :func:`~migrate_optim.verify.api.train_pair`."""
    device_ids = [rank] if device == "cuda" else None
    sides = iter(("old", "new"))

    def wrap(model: nn.Module, kind: str, module_keys: Sequence[str]) -> ModelDriver:
        side = next(sides)
        counter = counters[side]

        def ddp(module: nn.Module) -> DistributedDataParallel:
            wrapped = DistributedDataParallel(module, device_ids=device_ids)
            wrapped.register_comm_hook(None, counter.hook)
            return wrapped

        world = dist.get_world_size()
        if kind == "gan":
            subs = {key: ddp(model._modules[key]) for key in module_keys}
            return ModelDriver(model, module_ddp=subs, rank=rank, world=world)
        return ModelDriver(model, ddp=ddp(model), rank=rank, world=world)

    return wrap


def _worker(rank: int, world: int, port: int, payload_path: str, out_dir: str) -> None:
    """One process: join the group, train both sides, rank 0 writes its traces."""
    with open(payload_path, "rb") as fh:
        payload = pickle.load(fh)
    torch.set_num_threads(1)
    device = payload["device"]
    backend = "nccl" if device == "cuda" else "gloo"
    result: dict[str, Any]
    try:
        if device == "cuda":
            torch.cuda.set_device(rank)
        dist.init_process_group(
            backend,
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world,
            timeout=_TIMEOUT,
        )
        try:
            result = {"ok": _train(rank, world, payload)}
        finally:
            dist.destroy_process_group()
    except VerifyError as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        result = {"error": f"rank {rank}: {type(exc).__name__}: {exc}"}
    if rank == 0 or "error" in result:
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as fh:
            pickle.dump(result, fh)


def _train(rank: int, world: int, payload: Mapping[str, Any]) -> tuple:
    # verify.api passes its train_pair (pickled by name): importing it here would be a cycle
    train_pair = payload["train"]
    device = payload["device"]
    dev = f"cuda:{rank}" if device == "cuda" else "cpu"
    counters = {"old": AllReduceCounter(), "new": AllReduceCounter()}
    wrap = _wrapper(device, rank, counters)
    old_trace, new_trace, steps, reason = train_pair(
        payload["old_cfg"],
        payload["new_cfg"],
        payload["old_plan"],
        payload["new_plan"],
        payload["options"],
        dev,
        rank=rank,
        world=world,
        wrap=wrap,
        counters=(counters["old"], counters["new"]),
    )
    old_trace.allreduce = counters["old"].per_iteration(steps)
    new_trace.allreduce = counters["new"].per_iteration(steps)
    return old_trace, new_trace, steps, reason


def run_distributed(
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    old_plan: OldPlan,
    new_plan: NewPlan,
    options: Any,
    device: str,
    train: Callable[..., tuple[SideTrace, SideTrace, int, str]],
) -> tuple[SideTrace, SideTrace, int, str]:
    """Spawn ``options.nproc`` processes, train both sides in each with ``train`` (a
    module-level function such as :func:`~migrate_optim.verify.api.train_pair`), return rank
    0's traces."""
    import torch.multiprocessing as mp

    from migrate_optim.config import to_plain

    nproc = options.nproc
    if not distributed_available(device):
        backend = "NCCL" if device == "cuda" else "gloo"
        raise VerifyError(f"--nproc {nproc}: torch.distributed with {backend} is not available")
    if device == "cuda" and torch.cuda.device_count() < nproc:
        raise VerifyError(
            f"--nproc {nproc} on CUDA needs {nproc} GPUs, {torch.cuda.device_count()} found"
        )
    with tempfile.TemporaryDirectory(prefix="migrate-optim-ddp-") as tmp:
        payload_path = os.path.join(tmp, "payload.pkl")
        with open(payload_path, "wb") as fh:
            pickle.dump(
                {
                    "old_cfg": to_plain(old_cfg),
                    "new_cfg": to_plain(new_cfg),
                    "old_plan": old_plan,
                    "new_plan": new_plan,
                    "options": options,
                    "device": device,
                    "train": train,
                },
                fh,
            )
        try:
            mp.start_processes(
                _worker,
                args=(nproc, _free_port(), payload_path, tmp),
                nprocs=nproc,
                join=True,
                start_method="spawn",
            )
        except Exception as exc:  # noqa: BLE001 - a crashed child process
            errors = _errors(tmp, nproc)
            raise VerifyError(errors or f"--nproc {nproc}: a process failed: {exc}") from exc
        errors = _errors(tmp, nproc)
        if errors:
            raise VerifyError(errors)
        with open(os.path.join(tmp, "rank0.pkl"), "rb") as fh:
            result = pickle.load(fh)
    return result["ok"]


def _errors(tmp: str, nproc: int) -> str:
    for rank in range(nproc):
        path = os.path.join(tmp, f"rank{rank}.pkl")
        if os.path.exists(path):
            with open(path, "rb") as fh:
                result = pickle.load(fh)
            if "error" in result:
                return str(result["error"])
    return ""
