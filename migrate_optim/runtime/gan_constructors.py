"""MMagic 1.2.0's constructors for models with several optimizers.

Semantics: docs/gan.md#per-module-optimizers.

* :class:`MultiOptimWrapperConstructor`: ``{name: sub_cfg}`` → ``OptimWrapperDict`` with one
  wrapper per name, or (top-level ``modules``) a single wrapper over several submodules.
* :class:`PGGANOptimWrapperConstructor`: one wrapper per resolution scale and network.
* :class:`SinGANOptimWrapperConstructor`: one wrapper per block of each network.

Deliberate departures from MMagic, where MMagic crashes or depends on call history: a
``MultiOptimWrapperConstructor`` config mixing entries with and without ``modules`` resolves the
latter by their name (MMagic raises ``KeyError``); ``PGGANOptimWrapperConstructor`` applies a
per-network ``paramwise_cfg`` to every scale (MMagic raises ``TypeError`` when optimizers are
reset per scale) and does not write the scheduled lr back into the config, so calling it twice
gives the same result.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import torch.nn as nn

from migrate_optim.runtime._checks import require
from migrate_optim.runtime.constructors import (
    DefaultOptimWrapperConstructor,
    build_optimizer,
    build_wrapper,
)
from migrate_optim.runtime.log import print_log
from migrate_optim.runtime.optim_wrapper import OptimWrapper
from migrate_optim.runtime.registry import OPTIM_WRAPPER_CONSTRUCTORS
from migrate_optim.runtime.wrapper_dict import OptimWrapperDict


def get_params_by_names(module: nn.Module, names: str | list[str]) -> tuple[list, list[str]]:
    """Parameters of the submodules named by ``names``, and the names that matched.

    Each name is first looked up among the direct children of ``module``; if it is not one, it
    is matched with :func:`re.fullmatch` against every dotted name of ``module.named_modules()``.
    """
    if not isinstance(names, list):
        names = [names]
    params: list = []
    found: list[str] = []
    for name in names:
        if name in module._modules:
            params.extend(module._modules[name].parameters())
            found.append(name)
        else:
            for sub_name, sub in module.named_modules():
                if re.fullmatch(name, sub_name):
                    params.extend(sub.parameters())
                    found.append(sub_name)
    return params, found


def _check_cfg_dict(optim_wrapper_cfg: Any, paramwise_cfg: Any) -> None:
    if not isinstance(optim_wrapper_cfg, dict):
        raise TypeError(f"optim_wrapper_cfg should be a dict, but got {type(optim_wrapper_cfg)}")
    require(paramwise_cfg is None, "paramwise_cfg should be set in each optimizer separately")


def _split_sub_cfg(cfg: dict) -> tuple[dict, dict | None]:
    rest = dict(cfg)
    return rest, rest.pop("paramwise_cfg", None)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """Build one optimizer wrapper per named part of a model (generator, discriminator, ...).

    Each ``sub_cfg`` of ``{name: sub_cfg}`` is a full wrapper config (``optimizer`` required,
    optional ``paramwise_cfg`` and ``modules``). If the name (or its ``modules`` string) is a
    direct child of the model, :class:`DefaultOptimWrapperConstructor` builds the wrapper for that
    child, with ``paramwise_cfg`` honoured. Otherwise the parameters are collected with
    :func:`get_params_by_names` and ``paramwise_cfg`` is forbidden. A config with a top-level
    ``modules`` key instead builds a single wrapper over all the listed modules.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        _check_cfg_dict(optim_wrapper_cfg, paramwise_cfg)
        self.optim_cfg = optim_wrapper_cfg
        self.constructors: (
            DefaultOptimWrapperConstructor | dict[str, DefaultOptimWrapperConstructor]
        )
        self.modules: Any
        if "modules" in optim_wrapper_cfg:
            cfg, sub_paramwise = _split_sub_cfg(optim_wrapper_cfg)
            self.modules = cfg.pop("modules")
            self.constructors = DefaultOptimWrapperConstructor(cfg, sub_paramwise)
        else:
            self.constructors = {}
            self.modules = {}
            for key, sub_cfg in optim_wrapper_cfg.items():
                cfg, sub_paramwise = _split_sub_cfg(sub_cfg)
                if "modules" in cfg:
                    self.modules[key] = cfg.pop("modules")
                self.constructors[key] = DefaultOptimWrapperConstructor(cfg, sub_paramwise)

    @staticmethod
    def _build_over_names(
        constructor: DefaultOptimWrapperConstructor, module: nn.Module, names: Any, label: str
    ) -> OptimWrapper:
        require(
            not constructor.paramwise_cfg,
            "paramwise_cfg is not supported for an optimizer over several modules",
        )
        params, found = get_params_by_names(module, names)
        optimizer = build_optimizer(constructor.optimizer_cfg, params)
        for name in found:
            print_log(
                f"Add to optimizer{label} ({constructor.optimizer_cfg}): '{name}'.", "current"
            )
        return build_wrapper(constructor.optim_wrapper_cfg, optimizer)

    def __call__(self, module: nn.Module) -> OptimWrapperDict | OptimWrapper:
        """Build the wrappers for ``module`` (``module.module`` for wrapped models)."""
        if hasattr(module, "module"):
            module = module.module
        if isinstance(self.constructors, DefaultOptimWrapperConstructor):
            return self._build_over_names(self.constructors, module, self.modules, "")

        wrappers: dict[str, OptimWrapper] = {}
        for key, constructor in self.constructors.items():
            names = self.modules.get(key, key)
            if isinstance(names, str) and names in module._modules:
                wrappers[key] = constructor(module._modules[names])
                print_log(
                    f"Add to optimizer '{key}' ({constructor.optimizer_cfg}): '{names}'.", "current"
                )
            else:
                wrappers[key] = self._build_over_names(constructor, module, names, f" '{key}'")
        return OptimWrapperDict(**wrappers)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PGGANOptimWrapperConstructor:
    """Optimizer wrappers for progressive-growing GANs (PGGAN, StyleGANv1).

    The model has ``scales`` (pairs whose first item is the resolution) and one child per config
    key (``generator``, ``discriminator``). Wrappers are named ``f'{key}_{scale}'``. With
    ``reset_optim_for_new_scale=True`` (default) every scale gets a fresh optimizer whose lr is
    ``lr_schedule[key].get(str(scale), optimizer lr)``; otherwise all scales share one wrapper.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        _check_cfg_dict(optim_wrapper_cfg, paramwise_cfg)
        self.optim_cfg = copy.deepcopy(optim_wrapper_cfg)
        self.reset_optim = self.optim_cfg.pop("reset_optim_for_new_scale", True)
        self.lr_schedule = self.optim_cfg.pop("lr_schedule", {})
        self.constructors = {
            key: DefaultOptimWrapperConstructor(*_split_sub_cfg(cfg))
            for key, cfg in self.optim_cfg.items()
        }

    def __call__(self, module: nn.Module) -> OptimWrapperDict:
        """Build ``{f'{key}_{scale}': wrapper}`` for ``module``."""
        if hasattr(module, "module"):
            module = module.module
        scales = [s[0] for s in module.scales]
        wrappers: dict[str, OptimWrapper] = {}
        for key, constructor in self.constructors.items():
            submodule = module._modules[key]
            base_lr = constructor.optimizer_cfg["lr"]
            shared = constructor(submodule)
            for scale in scales:
                if not self.reset_optim:
                    wrappers[f"{key}_{scale}"] = shared
                    continue
                cfg = dict(constructor.optim_wrapper_cfg)
                cfg["optimizer"] = {
                    **constructor.optimizer_cfg,
                    "lr": self.lr_schedule[key].get(str(scale), base_lr),
                }
                scale_constructor = DefaultOptimWrapperConstructor(cfg, constructor.paramwise_cfg)
                wrappers[f"{key}_{scale}"] = scale_constructor(submodule)
        return OptimWrapperDict(**wrappers)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SinGANOptimWrapperConstructor:
    """Optimizer wrappers for SinGAN: ``f'{key}_{idx}'`` over ``model.<key>.blocks[idx]``.

    ``idx`` runs over ``range(model.num_scales + 1)``; each block gets its own wrapper built
    from the key's config.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        _check_cfg_dict(optim_wrapper_cfg, paramwise_cfg)
        self.optim_cfg = optim_wrapper_cfg
        self.constructors = {
            key: DefaultOptimWrapperConstructor(*_split_sub_cfg(cfg))
            for key, cfg in optim_wrapper_cfg.items()
        }

    def __call__(self, module: nn.Module) -> OptimWrapperDict:
        """Build ``{f'{key}_{idx}': wrapper}`` for ``module``."""
        if hasattr(module, "module"):
            module = module.module
        wrappers: dict[str, OptimWrapper] = {}
        for key, constructor in self.constructors.items():
            submodule = module._modules[key]
            if hasattr(submodule, "module"):
                submodule = submodule.module
            for idx in range(module.num_scales + 1):
                wrappers[f"{key}_{idx}"] = constructor(submodule.blocks[idx])
        return OptimWrapperDict(**wrappers)
