"""Layer-wise learning-rate decay constructors, 0.x (mmcv era) and 1.x (MMEngine era).

Re-implemented from their sources (our code; the layer-id rules are the upstream ones):

* 0.x: ``mmsegmentation==0.30.0: mmseg/core/optimizers/layer_decay_optimizer_constructor.py ::
  LearningRateDecayOptimizerConstructor.add_params`` and ``LayerDecayOptimizerConstructor``
  (read at open-mmlab/mmsegmentation@3124b4ff), registered in mmcv's ``OPTIMIZER_BUILDERS``;
  ``mmdet==2.28.2: mmdet/core/optimizers/layer_decay_optimizer_constructor.py`` is the same
  class restricted to ConvNeXt backbones.
* 1.x: ``mmseg 1.x: mmseg/engine/optimizers/layer_decay_optimizer_constructor.py`` and
  ``mmdet 3.x: mmdet/engine/optimizers/layer_decay_optimizer_constructor.py``, the same
  ``add_params`` on top of MMEngine's ``DefaultOptimWrapperConstructor``, registered under the
  same names in ``OPTIM_WRAPPER_CONSTRUCTORS`` (so ``convert`` keeps the name,
  docs/codebases.md#codebase-constructors).

The rule (both eras): every trainable parameter (frozen ones are skipped) goes to group
``layer_{id}_{decay|no_decay}``; ``no_decay`` (weight decay 0) holds 1-D parameters, names
ending in ``.bias`` and the bare names ``pos_embed``/``cls_token``; the group lr is
``base_lr * decay_rate ** (num_layers + 2 - id - 1)``. The layer id comes from the parameter
name and the class name of ``model.backbone``:

* ConvNeXt, ``layer_wise``: ``backbone.{cls_token,mask_token,pos_embed}`` -> 0;
  ``backbone.downsample_layers.S`` -> 0, 2, 3, ``num_layers`` for S = 0..3;
  ``backbone.stages.S.B`` -> 1, 2, ``3 + B // 3``, ``num_layers`` for S = 0..3; others ->
  ``num_layers + 1``;
* ConvNeXt, ``stage_wise``: tokens and downsample layers -> 0, ``backbone.stages.S`` -> S + 1,
  others -> ``num_layers + 2 - 1``;
* BEiT/MAE (``layer_wise``, ``layer_wise_vit``): tokens and ``backbone.patch_embed`` -> 0,
  ``backbone.layers.L`` -> L + 1, others -> ``num_layers + 2 - 1``;
* any other backbone: ``NotImplementedError``, as upstream.

``LayerDecayOptimizerConstructor`` renames ``layer_decay_rate`` to ``decay_rate`` and sets
``decay_type='layer_wise_vit'`` (upstream did it in place on the config; we copy it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from migrate_optim.runtime.constructors import (
    DefaultOptimWrapperConstructor,
    build_optimizer,
    build_wrapper,
)
from migrate_optim.runtime.legacy.constructor import DefaultOptimizerConstructor
from migrate_optim.runtime.legacy.registry import OPTIMIZER_BUILDERS, OPTIMIZERS
from migrate_optim.runtime.optim_wrapper import OptimWrapper
from migrate_optim.runtime.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = [
    "layer_decay_groups",
    "layer_id_for_convnext",
    "layer_id_for_vit",
    "stage_id_for_convnext",
]

_TOKENS = ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed")


def layer_id_for_convnext(name: str, max_layer_id: int) -> int:
    """Layer id of a parameter of a ConvNeXt-backbone model, ``layer_wise`` decay."""
    if name in _TOKENS:
        return 0
    parts = name.split(".")
    if name.startswith("backbone.downsample_layers"):
        return {0: 0, 1: 2, 2: 3, 3: max_layer_id}[int(parts[2])]
    if name.startswith("backbone.stages"):
        stage, block = int(parts[2]), int(parts[3])
        return {0: 1, 1: 2, 2: 3 + block // 3, 3: max_layer_id}[stage]
    return max_layer_id + 1


def stage_id_for_convnext(name: str, max_stage_id: int) -> int:
    """Stage id of a parameter of a ConvNeXt-backbone model, ``stage_wise`` decay."""
    if name in _TOKENS or name.startswith("backbone.downsample_layers"):
        return 0
    if name.startswith("backbone.stages"):
        return int(name.split(".")[2]) + 1
    return max_stage_id - 1


def layer_id_for_vit(name: str, max_layer_id: int) -> int:
    """Layer id of a parameter of a BEiT/MAE-backbone model."""
    if name in _TOKENS or name.startswith("backbone.patch_embed"):
        return 0
    if name.startswith("backbone.layers"):
        return int(name.split(".")[2]) + 1
    return max_layer_id - 1


def _normalised(paramwise_cfg: dict, vit_alias: bool) -> dict:
    cfg = dict(paramwise_cfg)
    if vit_alias:
        cfg["decay_type"] = "layer_wise_vit"
        cfg["decay_rate"] = cfg.pop("layer_decay_rate")
    return cfg


def layer_decay_groups(
    module: nn.Module, paramwise_cfg: dict, base_lr: float, base_wd: float | None
) -> list[dict[str, Any]]:
    """The parameter groups both eras' constructors build (see the module docstring)."""
    num_layers = paramwise_cfg["num_layers"] + 2
    decay_rate = paramwise_cfg["decay_rate"]
    decay_type = paramwise_cfg.get("decay_type", "layer_wise")
    backbone = module._modules.get("backbone")
    backbone_name = type(backbone).__name__
    groups: dict[str, dict[str, Any]] = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token"):
            kind, weight_decay = "no_decay", 0.0
        else:
            kind, weight_decay = "decay", base_wd
        if "layer_wise" in decay_type:
            if "ConvNeXt" in backbone_name:
                layer_id = layer_id_for_convnext(name, paramwise_cfg["num_layers"])
            elif "BEiT" in backbone_name or "MAE" in backbone_name:
                layer_id = layer_id_for_vit(name, num_layers)
            else:
                raise NotImplementedError(
                    f"layer-wise lr decay knows ConvNeXt, BEiT and MAE backbones, not "
                    f"{backbone_name!r}"
                )
        elif decay_type == "stage_wise":
            if "ConvNeXt" not in backbone_name:
                raise NotImplementedError(f"stage_wise decay needs ConvNeXt, not {backbone_name!r}")
            layer_id = stage_id_for_convnext(name, num_layers)
        else:
            raise NotImplementedError(f"unknown decay_type {decay_type!r}")
        group_name = f"layer_{layer_id}_{kind}"
        if group_name not in groups:
            scale = decay_rate ** (num_layers - layer_id - 1)
            groups[group_name] = {
                "weight_decay": weight_decay,
                "params": [],
                "param_names": [],
                "lr_scale": scale,
                "group_name": group_name,
                "lr": scale * base_lr,
            }
        groups[group_name]["params"].append(param)
        groups[group_name]["param_names"].append(name)
    return list(groups.values())


@OPTIMIZER_BUILDERS.register_module(name="LearningRateDecayOptimizerConstructor")
class LegacyLearningRateDecayOptimizerConstructor(DefaultOptimizerConstructor):
    """0.x mmseg/mmdet ``LearningRateDecayOptimizerConstructor`` (mmcv ``OPTIMIZER_BUILDERS``)."""

    _vit_alias = False

    def __init__(self, optimizer_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        super().__init__(optimizer_cfg, _normalised(paramwise_cfg or {}, self._vit_alias))

    def add_params(self, params: list, module: nn.Module, **kwargs: Any) -> None:
        """Append the layer-decay groups of ``module``."""
        params.extend(layer_decay_groups(module, self.paramwise_cfg, self.base_lr, self.base_wd))

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        """Build the optimizer (a ``paramwise_cfg`` is always given to this constructor)."""
        if hasattr(model, "module"):
            model = model.module
        params: list = []
        self.add_params(params, model)
        return OPTIMIZERS.build({**self.optimizer_cfg, "params": params})


@OPTIMIZER_BUILDERS.register_module(name="LayerDecayOptimizerConstructor")
class LegacyLayerDecayOptimizerConstructor(LegacyLearningRateDecayOptimizerConstructor):
    """0.x mmseg ``LayerDecayOptimizerConstructor``: BEiT's ``layer_decay_rate`` spelling."""

    _vit_alias = True


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(name="LearningRateDecayOptimizerConstructor")
class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """1.x mmseg/mmdet ``LearningRateDecayOptimizerConstructor`` (MMEngine-era registry)."""

    _vit_alias = False

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        super().__init__(optim_wrapper_cfg, _normalised(paramwise_cfg or {}, self._vit_alias))

    def add_params(self, params: list, module: nn.Module, *args: Any, **kwargs: Any) -> None:
        """Append the layer-decay groups of ``module``."""
        params.extend(layer_decay_groups(module, self.paramwise_cfg, self.base_lr, self.base_wd))

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the wrapper (a ``paramwise_cfg`` is always given to this constructor)."""
        if hasattr(model, "module"):
            model = model.module
        params: list = []
        self.add_params(params, model)
        return build_wrapper(self.optim_wrapper_cfg, build_optimizer(self.optimizer_cfg, params))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(name="LayerDecayOptimizerConstructor")
class LayerDecayOptimizerConstructor(LearningRateDecayOptimizerConstructor):
    """1.x mmseg ``LayerDecayOptimizerConstructor``: BEiT's ``layer_decay_rate`` spelling."""

    _vit_alias = True
