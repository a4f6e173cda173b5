"""The model ``verify`` trains: the synthesized probe or a user factory, and how losses reach it.

A model for ``verify`` is an :class:`torch.nn.Module` with

* ``make_batch(step) -> Tensor``: the deterministic input of data step ``step`` (any int);
* ``loss(batch) -> Tensor`` (or ``forward(batch)`` returning the scalar loss) for a single
  optimizer;
* for GAN configs, a child module per optimizer key (``generator``, ``discriminator``, ...) and
  ``module_loss(name, batch) -> Tensor``, a loss that depends only on that child's parameters
  (``forward(batch)`` of the child must return the same loss when ``--nproc`` wraps the children
  in ``DistributedDataParallel``).

:class:`~migrate_optim.verify.probe.ProbeModel` is such a model. ``--model module:factory`` names
a callable taking the two loaded configs (0.x, 1.x) and returning one; ``module`` may also be a
path to a ``.py`` file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ModelDriver", "build_model", "load_factory"]

# Distinct data ids for generator micro-batches: G losses must not reuse the real batches.
_GEN_STRIDE = 4096


class ModelError(ValueError):
    """The model factory cannot be loaded or returned something unusable."""


def load_factory(spec: str) -> Callable[[Mapping, Mapping], nn.Module]:
    """Resolve ``module:callable`` (``module`` dotted, or a ``.py`` path) to the callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ModelError(f"--model must be MODULE:CALLABLE, got {spec!r}")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise ModelError(f"--model: no such file {module_name!r}")
            mod_spec = importlib.util.spec_from_file_location(f"_verify_model_{path.stem}", path)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            # Like `python -m`: the working directory is importable.
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any import failure is a bad --model
        raise ModelError(f"--model: cannot import {module_name!r}: {exc}") from exc
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ModelError(f"--model: {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise ModelError(f"--model: {spec!r} is not callable")
    return factory  # type: ignore[return-value]


def build_model(
    factory: str | None, old_cfg: Mapping, new_cfg: Mapping, seed: int, gan_modules: tuple = ()
) -> nn.Module:
    """The model to train: ``factory(old_cfg, new_cfg)`` or the probe for the two configs."""
    if factory is None:
        from migrate_optim.verify.probe import synthesize_probe

        model = synthesize_probe(old_cfg, new_cfg, seed=seed)
    else:
        fn = load_factory(factory)
        torch.manual_seed(seed)
        try:
            model = fn(old_cfg, new_cfg)
        except Exception as exc:  # noqa: BLE001 - user code
            raise ModelError(f"--model {factory}: the factory failed: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"the model factory returned {type(model).__name__}, not an nn.Module")
    if not callable(getattr(model, "make_batch", None)):
        raise ModelError("the model has no make_batch(step) method")
    for name in gan_modules:
        if name not in model._modules:
            raise ModelError(f"the model has no child module {name!r} (a GAN optimizer key)")
    if gan_modules and not callable(getattr(model, "module_loss", None)):
        raise ModelError("a GAN model needs a module_loss(name, batch) method")
    return model


class ModelDriver:
    """Computes the losses the trainers need, through DDP wrappers when there are some.

    ``ddp`` wraps the whole model (single-optimizer configs); ``module_ddp`` maps GAN children to
    their own wrappers (as MMEngine's ``MMSeparateDistributedDataParallel`` does). ``rank`` and
    ``world`` make every process read different data.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        ddp: nn.Module | None = None,
        module_ddp: Mapping[str, nn.Module] | None = None,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.model = model
        self.ddp = ddp
        self.module_ddp = dict(module_ddp or {})
        self.rank = rank
        self.world = world

    def _data_id(self, step: int) -> int:
        return step * self.world + self.rank

    def batch(self, step: int) -> torch.Tensor:
        """The real batch of iteration ``step`` for this process."""
        return self.model.make_batch(self._data_id(step))  # type: ignore[operator]

    def gen_batch(self, step: int, index: int) -> torch.Tensor:
        """The input of generator micro-batch ``index`` of iteration ``step``."""
        return self.model.make_batch(-(1 + self._data_id(step) * _GEN_STRIDE + index))  # type: ignore[operator]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        """The whole model's loss (through DDP when distributed)."""
        if self.ddp is not None:
            return self.ddp(batch)
        loss_fn = getattr(self.model, "loss", None)
        return loss_fn(batch) if callable(loss_fn) else self.model(batch)

    def module_loss(self, name: str, batch: torch.Tensor) -> torch.Tensor:
        """GAN child ``name``'s loss (through its DDP wrapper when distributed)."""
        wrapper = self.module_ddp.get(name)
        if wrapper is not None:
            return wrapper(batch)
        return self.model.module_loss(name, batch)  # type: ignore[operator]

    def context_target(self, name: str | None = None) -> nn.Module:
        """What ``optim_context`` gets: the DDP wrapper (so ``no_sync`` applies) or the module."""
        if name is None:
            return self.ddp if self.ddp is not None else self.model
        return self.module_ddp.get(name) or self.model._modules[name]  # type: ignore[return-value]

    def hook_target(self) -> nn.Module:
        """What a 0.x runner holds as ``runner.model`` (the DDP wrapper when distributed)."""
        return self.ddp if self.ddp is not None else self.model

    def all_ddp(self) -> list[Any]:
        """Every DDP wrapper in use."""
        return ([self.ddp] if self.ddp is not None else []) + list(self.module_ddp.values())
