"""``DefaultOptimWrapperConstructor``: config → optimizer wrapper with ``paramwise_cfg``.

Semantics: docs/paramwise.md.

Without ``paramwise_cfg`` every parameter of the model (frozen ones included) goes into one
group. With it, :meth:`DefaultOptimWrapperConstructor.add_params` walks the module tree and
makes one group per trainable parameter, with MMEngine 0.10.7's rules:

* ``custom_keys``: the longest key (ties: alphabetical) that is a substring of
  ``f'{prefix}.{name}'`` wins; the group gets ``lr = base_lr * lr_mult`` and, when the optimizer
  has a ``weight_decay``, ``weight_decay = base_wd * decay_mult`` (mults default to 1), then every
  key of the custom dict is copied into the group. A match bypasses all rules below.
* ``bias_lr_mult``: biases, except those of norm layers and of DCN submodules.
* ``dcn_offset_lr_mult``: ``Conv2d`` submodules of a deformable conv whose prefix contains
  ``conv_offset`` (weight and bias; overrides ``bias_lr_mult``).
* weight decay (only if the optimizer has ``weight_decay``), first applicable rule wins:
  ``norm_decay_mult`` (norm layers) → ``bias_decay_mult`` (biases, not in DCN submodules) →
  ``dwconv_decay_mult`` (depthwise ``Conv2d``) → ``flat_decay_mult`` (1-D parameters, not in DCN
  submodules). A rule applies only when its option is set.
* ``bypass_duplicate``: skip (with a warning) parameters already in a group; otherwise a shared
  parameter ends in two groups and torch raises ``ValueError``.
* parameters with ``requires_grad=False`` are skipped with a warning.

mmcv is not a dependency, so deformable convs are recognised by class name: a module whose class
(or a base class) is named ``DeformConv2d`` or ``ModulatedDeformConv2d``, which covers mmcv's
classes and their ``*Pack`` subclasses.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch.nn as nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from migrate_optim.runtime._checks import require
from migrate_optim.runtime.log import print_log
from migrate_optim.runtime.optim_wrapper import OptimWrapper
from migrate_optim.runtime.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

NORM_LAYERS = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)
DCN_CLASS_NAMES = frozenset({"DeformConv2d", "ModulatedDeformConv2d"})


def is_dcn(module: nn.Module) -> bool:
    """Whether ``module`` is an (mmcv) deformable convolution, judged by class names."""
    return any(cls.__name__ in DCN_CLASS_NAMES for cls in type(module).__mro__)


def resolve_optimizer_class(optimizer_type: Any) -> Any:
    """The optimizer class named by a config ``type`` (a registered name or the class itself)."""
    if isinstance(optimizer_type, str):
        cls = OPTIMIZERS.get(optimizer_type)
        if cls is None:
            raise KeyError(f"{optimizer_type} is not in the {OPTIMIZERS.name} registry")
        return cls
    return optimizer_type


def build_optimizer(optimizer_cfg: dict, params: Any) -> Any:
    """Build an optimizer from ``optimizer_cfg`` with ``params`` as its parameters.

    The parameters are passed under the name of the optimizer class's first parameter (MMEngine
    does this for optimizers such as ColossalAI's ``HybridAdam(model_params, ...)``).
    """
    cls = resolve_optimizer_class(optimizer_cfg["type"])
    first_arg = next(iter(inspect.signature(cls).parameters))
    cfg = dict(optimizer_cfg)
    cfg[first_arg] = params
    return OPTIMIZERS.build(cfg)


def build_wrapper(optim_wrapper_cfg: dict, optimizer: Any) -> OptimWrapper:
    """Build the wrapper described by ``optim_wrapper_cfg`` (``type`` defaults to OptimWrapper)."""
    cfg = dict(optim_wrapper_cfg)
    cfg.setdefault("type", "OptimWrapper")
    return OPTIM_WRAPPERS.build(cfg, default_args={"optimizer": optimizer})


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DefaultOptimWrapperConstructor:
    """Build an optimizer wrapper for a model from ``optim_wrapper_cfg`` and ``paramwise_cfg``.

    ``optim_wrapper_cfg`` must contain ``optimizer`` (the optimizer config); its other keys
    (``type``, ``accumulative_counts``, ``clip_grad``, ...) configure the wrapper. Subclasses
    customise grouping by overriding :meth:`add_params`, which :meth:`__call__` calls as
    ``self.add_params(params, model)``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError(
                f"optim_wrapper_cfg should be a dict, but got {type(optim_wrapper_cfg)}"
            )
        require("optimizer" in optim_wrapper_cfg, '`optim_wrapper_cfg` must contain "optimizer"')
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = self.optim_wrapper_cfg.pop("optimizer")
        self.paramwise_cfg = {} if paramwise_cfg is None else paramwise_cfg
        self.base_lr = self.optimizer_cfg.get("lr", None)
        self.base_wd = self.optimizer_cfg.get("weight_decay", None)
        self._validate_cfg()

    def _validate_cfg(self) -> None:
        if not isinstance(self.paramwise_cfg, dict):
            raise TypeError(
                f"paramwise_cfg should be None or a dict, but got {type(self.paramwise_cfg)}"
            )
        if "custom_keys" in self.paramwise_cfg:
            custom_keys = self.paramwise_cfg["custom_keys"]
            if not isinstance(custom_keys, dict):
                raise TypeError(f"custom_keys must be a dict, but got {type(custom_keys)}")
            if self.base_wd is None and any("decay_mult" in v for v in custom_keys.values()):
                raise ValueError("base_wd should not be None")
        decay_options = ("bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult")
        if self.base_wd is None and any(k in self.paramwise_cfg for k in decay_options):
            raise ValueError("base_wd should not be None")

    def add_params(
        self,
        params: list[dict],
        module: nn.Module,
        prefix: str = "",
        is_dcn_module: int | float | bool | None = None,
    ) -> None:
        """Append a param group for each trainable parameter of ``module`` and its children.

        ``prefix`` is the dotted name of ``module`` in the model; ``is_dcn_module`` tells whether
        ``module``'s parent is a deformable conv (its offset convs get ``dcn_offset_lr_mult``).
        """
        cfg = self.paramwise_cfg
        custom_keys = cfg.get("custom_keys", {})
        # Longest key first; among equally long keys, alphabetical order (sort is stable).
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
        bias_lr_mult = cfg.get("bias_lr_mult", None)
        bias_decay_mult = cfg.get("bias_decay_mult", None)
        norm_decay_mult = cfg.get("norm_decay_mult", None)
        dwconv_decay_mult = cfg.get("dwconv_decay_mult", None)
        flat_decay_mult = cfg.get("flat_decay_mult", None)
        bypass_duplicate = cfg.get("bypass_duplicate", False)
        dcn_offset_lr_mult = cfg.get("dcn_offset_lr_mult", None)

        is_norm = isinstance(module, NORM_LAYERS)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        seen = {id(p) for group in params for p in group["params"]} if bypass_duplicate else set()

        for name, param in module.named_parameters(recurse=False):
            full_name = f"{prefix}.{name}" if prefix else name
            if bypass_duplicate and id(param) in seen:
                print_log(
                    f"{full_name} is a duplicate; it is skipped since bypass_duplicate=True",
                    logger="current",
                    level=logging.WARNING,
                )
                continue
            if not param.requires_grad:
                print_log(
                    f"{full_name} is skipped since its requires_grad=False",
                    logger="current",
                    level=logging.WARNING,
                )
                continue

            group: dict[str, Any] = {"params": [param]}
            # Custom keys match against f'{prefix}.{name}' (so top-level names start with '.').
            key = next((k for k in sorted_keys if k in f"{prefix}.{name}"), None)
            if key is not None:
                options = custom_keys[key]
                group["lr"] = self.base_lr * options.get("lr_mult", 1.0)
                if self.base_wd is not None:
                    group["weight_decay"] = self.base_wd * options.get("decay_mult", 1.0)
                group.update(options)
            else:
                if name == "bias" and not (is_norm or is_dcn_module) and bias_lr_mult is not None:
                    group["lr"] = self.base_lr * bias_lr_mult
                if (
                    "conv_offset" in prefix
                    and is_dcn_module
                    and dcn_offset_lr_mult is not None
                    and isinstance(module, nn.Conv2d)
                ):
                    group["lr"] = self.base_lr * dcn_offset_lr_mult
                if self.base_wd is not None:
                    if is_norm and norm_decay_mult is not None:
                        group["weight_decay"] = self.base_wd * norm_decay_mult
                    elif name == "bias" and not is_dcn_module and bias_decay_mult is not None:
                        group["weight_decay"] = self.base_wd * bias_decay_mult
                    elif is_dwconv and dwconv_decay_mult is not None:
                        group["weight_decay"] = self.base_wd * dwconv_decay_mult
                    elif param.ndim == 1 and not is_dcn_module and flat_decay_mult is not None:
                        group["weight_decay"] = self.base_wd * flat_decay_mult
            params.append(group)
            if bypass_duplicate:
                seen.add(id(param))
            for option, value in group.items():
                if option != "params":
                    print_log(f"paramwise_options -- {full_name}:{option}={value}", "current")

        child_in_dcn = is_dcn(module)
        for child_name, child in module.named_children():
            child_prefix = f"{prefix}.{child_name}" if prefix else child_name
            self.add_params(params, child, prefix=child_prefix, is_dcn_module=child_in_dcn)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper for ``model`` (``model.module`` for wrapped models)."""
        if hasattr(model, "module"):
            model = model.module
        if not self.paramwise_cfg:
            params: Any = model.parameters()
        else:
            params = []
            self.add_params(params, model)
        optimizer = build_optimizer(self.optimizer_cfg, params)
        return build_wrapper(self.optim_wrapper_cfg, optimizer)
