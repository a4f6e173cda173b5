"""mmcv 1.7.2's optimizer construction (``DefaultOptimizerConstructor``, ``build_optimizer``).

Re-implements the 0.x semantics described in docs/paramwise.md
(``mmcv==1.7.2: mmcv/runner/optimizer/default_constructor.py :: DefaultOptimizerConstructor``,
``mmcv/runner/optimizer/builder.py :: build_optimizer``) so that a 0.x config can be trained
without mmcv installed. The points that differ from MMEngine's ``DefaultOptimWrapperConstructor``
are kept on purpose:

* every ``*_mult`` option that is absent counts as ``1.0``; the weight-decay branch order is
  norm -> depthwise conv -> bias, and each branch is taken whenever the layer type matches;
* with any ``paramwise_cfg`` the constructor writes ``lr`` on every (non-norm, non-DCN) bias
  group and ``weight_decay`` on every norm/dwconv/bias group, even when the mult is 1.0
  (``TypeError`` if the optimizer has no ``lr`` and a bias is met);
* ``requires_grad=False`` parameters are kept, each as its own group, before the
  ``bypass_duplicate`` check;
* ``custom_keys[key]`` contributes only ``lr_mult``/``decay_mult``; unknown paramwise keys (e.g.
  MMEngine's ``flat_decay_mult``) are silently ignored;
* the optimizer always receives its parameters as the keyword ``params``.

DCN layers are recognised by class name (``DeformConv2d``/``ModulatedDeformConv2d`` or a subclass,
e.g. the ``*Pack`` variants), so the offset rules apply without mmcv's compiled ops; mmcv itself
applied them only when mmcv-full's ops were importable (``check_ops_exist()``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from .registry import OPTIMIZER_BUILDERS, OPTIMIZERS

_NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
DCN_CLASS_NAMES = frozenset({'DeformConv2d', 'ModulatedDeformConv2d'})
_DECAY_MULT_KEYS = ('bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult')


def is_dcn_layer(module: nn.Module) -> bool:
    """True when ``module`` is (a subclass of) a class named DeformConv2d/ModulatedDeformConv2d."""
    return any(klass.__name__ in DCN_CLASS_NAMES for klass in type(module).__mro__)


@OPTIMIZER_BUILDERS.register
class DefaultOptimizerConstructor:
    """Builds a torch optimizer from an mmcv 1.x ``optimizer`` dict and optional ``paramwise_cfg``.

    ``optimizer_cfg`` is the optimizer dict without ``constructor``/``paramwise_cfg`` (``type``
    plus the optimizer's keyword arguments). ``paramwise_cfg`` may hold ``custom_keys``,
    ``bias_lr_mult``, ``bias_decay_mult``, ``norm_decay_mult``, ``dwconv_decay_mult``,
    ``dcn_offset_lr_mult`` and ``bypass_duplicate``; other keys are ignored, as in mmcv.
    Calling the constructor with a model returns the optimizer.
    """

    def __init__(self, optimizer_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if not isinstance(optimizer_cfg, dict):
            raise TypeError(f'optimizer_cfg should be a dict, but got {type(optimizer_cfg)}')
        self.optimizer_cfg = optimizer_cfg
        self.paramwise_cfg = {} if paramwise_cfg is None else paramwise_cfg
        self.base_lr = optimizer_cfg.get('lr', None)
        self.base_wd = optimizer_cfg.get('weight_decay', None)
        self._validate_cfg()

    def _validate_cfg(self) -> None:
        if not isinstance(self.paramwise_cfg, dict):
            raise TypeError(
                f'paramwise_cfg should be None or a dict, but got {type(self.paramwise_cfg)}'
            )
        if 'custom_keys' in self.paramwise_cfg:
            custom_keys = self.paramwise_cfg['custom_keys']
            if not isinstance(custom_keys, dict):
                raise TypeError(
                    f'If specified, custom_keys must be a dict, but got {type(custom_keys)}'
                )
            if self.base_wd is None and any('decay_mult' in v for v in custom_keys.values()):
                raise ValueError('base_wd should not be None')
        if self.base_wd is None and any(k in self.paramwise_cfg for k in _DECAY_MULT_KEYS):
            raise ValueError('base_wd should not be None')

    @staticmethod
    def _overlaps(param: nn.Parameter, groups: list[dict]) -> bool:
        return any(any(p is param for p in group['params']) for group in groups)

    def add_params(
        self,
        params: list[dict],
        module: nn.Module,
        prefix: str = '',
        is_dcn_module: bool | None = None,
    ) -> None:
        """Append one param group per parameter of ``module`` (recursively) to ``params``.

        ``is_dcn_module`` tells whether the *parent* of ``module`` is a DCN layer, which is what
        makes its ``conv_offset`` child get ``dcn_offset_lr_mult``.
        """
        cfg = self.paramwise_cfg
        custom_keys: dict = cfg.get('custom_keys', {})
        # Longest key first; equal lengths in alphabetical order (stable sort on a sorted list).
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
        bias_lr_mult = cfg.get('bias_lr_mult', 1.0)
        bias_decay_mult = cfg.get('bias_decay_mult', 1.0)
        norm_decay_mult = cfg.get('norm_decay_mult', 1.0)
        dwconv_decay_mult = cfg.get('dwconv_decay_mult', 1.0)
        bypass_duplicate = cfg.get('bypass_duplicate', False)
        dcn_offset_lr_mult = cfg.get('dcn_offset_lr_mult', 1.0)

        is_norm = isinstance(module, _NORM_TYPES)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups

        for name, param in module.named_parameters(recurse=False):
            group: dict[str, Any] = {'params': [param]}
            if not param.requires_grad:
                # Frozen parameters stay in the optimizer (mmcv kept them aligned with
                # model.parameters() for its old fp16 master-weight copy).
                params.append(group)
                continue
            if bypass_duplicate and self._overlaps(param, params):
                warnings.warn(
                    f'{prefix} is duplicate. It is skipped since '
                    f'bypass_duplicate={bypass_duplicate}',
                    stacklevel=2,
                )
                continue

            full_name = f'{prefix}.{name}'
            matched = next((key for key in sorted_keys if key in full_name), None)
            if matched is not None:
                group['lr'] = self.base_lr * custom_keys[matched].get('lr_mult', 1.0)
                if self.base_wd is not None:
                    decay_mult = custom_keys[matched].get('decay_mult', 1.0)
                    group['weight_decay'] = self.base_wd * decay_mult
            else:
                if name == 'bias' and not (is_norm or is_dcn_module):
                    group['lr'] = self.base_lr * bias_lr_mult
                if (
                    'conv_offset' in prefix
                    and is_dcn_module
                    and isinstance(module, nn.Conv2d)
                ):
                    # Both the weight and the bias of a DCN offset conv.
                    group['lr'] = self.base_lr * dcn_offset_lr_mult
                if self.base_wd is not None:
                    if is_norm:
                        group['weight_decay'] = self.base_wd * norm_decay_mult
                    elif is_dwconv:
                        group['weight_decay'] = self.base_wd * dwconv_decay_mult
                    elif name == 'bias' and not is_dcn_module:
                        group['weight_decay'] = self.base_wd * bias_decay_mult
            params.append(group)

        child_of_dcn = is_dcn_layer(module)
        for child_name, child in module.named_children():
            child_prefix = f'{prefix}.{child_name}' if prefix else child_name
            self.add_params(params, child, prefix=child_prefix, is_dcn_module=child_of_dcn)

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        """Build the optimizer for ``model`` (unwrapping a ``.module`` wrapper first)."""
        if hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        if not self.paramwise_cfg:
            optimizer_cfg['params'] = model.parameters()
            return OPTIMIZERS.build(optimizer_cfg)
        params: list[dict] = []
        self.add_params(params, model)
        optimizer_cfg['params'] = params
        return OPTIMIZERS.build(optimizer_cfg)


def build_optimizer_constructor(cfg: Mapping[str, Any]) -> Any:
    """Build a constructor from ``dict(type=..., optimizer_cfg=..., paramwise_cfg=...)``."""
    return OPTIMIZER_BUILDERS.build(cfg)


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """mmcv 1.x ``build_optimizer``: pop ``constructor``/``paramwise_cfg`` and build.

    ``constructor`` defaults to ``'DefaultOptimizerConstructor'``; both keys are removed from a
    deep copy of ``cfg`` so the caller's dict is untouched.
    """
    optimizer_cfg = copy.deepcopy(dict(cfg))
    constructor_type = optimizer_cfg.pop('constructor', 'DefaultOptimizerConstructor')
    paramwise_cfg = optimizer_cfg.pop('paramwise_cfg', None)
    constructor = build_optimizer_constructor(
        dict(type=constructor_type, optimizer_cfg=optimizer_cfg, paramwise_cfg=paramwise_cfg)
    )
    return constructor(model)


def build_optimizers(
    model: nn.Module, cfgs: Mapping[str, Any]
) -> dict[str, torch.optim.Optimizer] | torch.optim.Optimizer:
    """MMGeneration 0.7.3 / MMEditing 0.16.1 ``build_optimizers``.

    If every value of ``cfgs`` is a dict, one optimizer per key is built on
    ``getattr(model, key)`` (each sub-dict may carry its own ``constructor``/``paramwise_cfg``)
    and a dict is returned; otherwise ``cfgs`` is one optimizer config for the whole model
    (``mmgen/core/optimizer/builder.py :: build_optimizers``).
    """
    if hasattr(model, 'module'):
        model = model.module
    if all(isinstance(cfg, Mapping) for cfg in cfgs.values()):
        return {key: build_optimizer(getattr(model, key), cfg) for key, cfg in cfgs.items()}
    return build_optimizer(model, cfgs)


def describe_param_groups(
    model: nn.Module, groups: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Name the parameters of each group: ``[{'params': [names...], <other keys>...}, ...]``.

    A helper for comparisons (tests, ``verify`` reports): parameter objects are replaced by their
    qualified names in ``model`` (shared parameters get their first name).
    """
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), name)
    described = []
    for group in groups:
        entry = {k: v for k, v in group.items() if k != 'params'}
        entry['params'] = [names.get(id(p), '?') for p in group['params']]
        described.append(entry)
    return described
