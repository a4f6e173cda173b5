"""How each 0.x codebase's train API turns a config into an optimizer hook and a run length.

Pure config logic (no torch), docs/optimizer-hooks.md#how-each-trainer-builds-the-hook and
docs/schedules.md#runner-and-totals. Each rule cites the upstream function it
reproduces; the conditions were checked against the released sources (mmgen 0.7.3 sdist, mmedit
0.16.1 wheel) and, for mmdet/mmcls/mmseg, against copies of those train functions found in public
code search (late 2.x / 0.2x versions with the same conditions; the exact release files were not
at hand):

* mmdet 2.28.2 ``mmdet/apis/train.py :: train_detector`` — ``fp16_cfg = cfg.get('fp16', None)``;
  ``if fp16_cfg is not None: Fp16OptimizerHook(**cfg.optimizer_config, **fp16_cfg,
  distributed=distributed)``; ``elif distributed and 'type' not in cfg.optimizer_config:
  OptimizerHook(**cfg.optimizer_config)``; else the dict as is. The test is *is not None*, so
  ``fp16 = dict()`` enables fp16 (loss scale = the hook default 512.).
  ``mmdet/utils/compat_config.py :: compat_runner_args`` — ``'runner' not in cfg`` ->
  ``EpochBasedRunner(max_epochs=cfg.total_epochs)``; else ``total_epochs`` (if present) must
  equal ``runner.max_epochs``.
* mmcls 0.25.0 ``mmcls/apis/train.py :: train_model`` — same ``fp16`` test, but
  ``Fp16OptimizerHook(**cfg.optimizer_config, loss_scale=fp16_cfg['loss_scale'],
  distributed=distributed)`` (only ``loss_scale`` is read: ``KeyError`` when absent);
  distributed without ``type`` -> mmcls ``DistOptimizerHook(**cfg.optimizer_config)``;
  ``cfg.get('runner') is None`` -> ``EpochBasedRunner(max_epochs=cfg.total_epochs)``.
* mmseg 0.30.0 ``mmseg/apis/train.py :: train_segmentor`` — ``cfg.optimizer_config`` goes
  straight to ``register_training_hooks``; the top-level ``fp16`` key is never read;
  ``cfg.get('runner') is None`` -> ``IterBasedRunner(max_iters=cfg.total_iters)``.
* mmgen 0.7.3 ``mmgen/apis/train.py :: train_model`` — tests ``cfg.get('optimizer_cfg', None)``
  (not ``optimizer_config``): when it is None, no optimizer hook at all (the GAN ``train_step``
  steps its own optimizers); otherwise ``fp16`` -> ``NotImplementedError``, distributed without
  ``type`` -> ``OptimizerHook``, else the ``optimizer_config`` dict. ``runner.run(...,
  cfg.total_iters)`` overrides the runner's length; no ``runner`` -> ``IterBasedRunner``.
* mmedit 0.16.1 ``mmedit/apis/train.py :: _non_dist_train/_dist_train`` — never registers an
  optimizer hook; always ``IterBasedRunner`` run for ``cfg.total_iters`` (``runner`` ignored).

Finally mmcv 1.7.2 ``BaseRunner.register_optimizer_hook``: ``None`` -> no hook, a dict gets
``type='OptimizerHook'`` by default.

Not modelled: the NPU/IPU device branches (mmdet/mmcls switch fp16 on for ``device == 'npu'``),
``auto_scale_lr`` (an lr change, not a hook), mmgen's apex path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from migrate_optim.codebases import (
    FP16_IGNORED,
    HOOKLESS,
    LOSS_SCALE_ONLY,
    MERGED,
    TRAIN_APIS,
    TrainAPI,
    UnsupportedCodebase,
    train_api,
)

#: every codebase of the shared table (:mod:`migrate_optim.codebases`)
CODEBASES = tuple(TRAIN_APIS)

_MISSING = object()

# Keyword parameters (and defaults) of the mmcv 1.7.2 optimizer hooks; a test checks them against
# the runtime classes in hooks.py. Kept here so that this module needs no torch.
HOOK_PARAMS: dict[str, dict[str, Any]] = {
    'OptimizerHook': {'grad_clip': None, 'detect_anomalous_params': False},
    'GradientCumulativeOptimizerHook': {
        'cumulative_iters': 1,
        'grad_clip': None,
        'detect_anomalous_params': False,
    },
    'Fp16OptimizerHook': {
        'grad_clip': None,
        'coalesce': True,
        'bucket_size_mb': -1,
        'loss_scale': 512.0,
        'distributed': True,
    },
    'GradientCumulativeFp16OptimizerHook': {
        'cumulative_iters': 1,
        'grad_clip': None,
        'coalesce': True,
        'bucket_size_mb': -1,
        'loss_scale': 512.0,
        'distributed': True,
    },
}
# mmdet's DistOptimizerHook forwards everything to OptimizerHook; mmcls's has its own signature.
_MMCLS_DIST_PARAMS = {'grad_clip': None, 'coalesce': True, 'bucket_size_mb': -1}
_DIST_HOOK_PARAMS = {
    'mmdet': dict(HOOK_PARAMS['OptimizerHook']),
    'mmcls': _MMCLS_DIST_PARAMS,
    # mmfewshot's classification API builds mmcls's DistOptimizerHook
    'mmfewshot': _MMCLS_DIST_PARAMS,
}


class TrainLength(NamedTuple):
    """Length of a 0.x run: ``by_epoch`` and ``max_epochs`` (if by_epoch) else ``max_iters``."""

    by_epoch: bool
    length: int


def normalize_codebase(codebase: str) -> str:
    """Canonical codebase name (``mmdet``, ``mmpose``, ...): a row of the shared table.

    Raises :class:`~migrate_optim.codebases.UnsupportedCodebase` for a name no row knows.
    """
    return train_api(codebase).name


def supported_api(codebase: str, cfg: Mapping[str, Any] | None = None) -> TrainAPI:
    """The table row whose train API the 0.x side of ``verify`` re-implements for ``cfg``.

    Follows ``delegates`` (mmdet3d segmentors train the mmseg way). Raises
    :class:`~migrate_optim.codebases.UnsupportedCodebase` (with the reason) for a codebase whose
    training is not modelled, and for an ``adversarial_key`` set in ``cfg`` (mmpose/mmhuman3d
    adversarial training: the model steps its optimizers in ``train_step``).
    """
    cfg = cfg or {}
    model = cfg.get('model')
    model_type = model.get('type') if isinstance(model, Mapping) else None
    api = train_api(codebase, model_type if isinstance(model_type, str) else None)
    if api.unsupported:
        raise UnsupportedCodebase(api.unsupported)
    if api.adversarial_key and cfg.get(api.adversarial_key):
        raise UnsupportedCodebase(
            f'{api.name} with {api.adversarial_key}=True registers no optimizer hook: the '
            'model steps its optimizers inside train_step, which verify does not model'
        )
    return api


def _hook_params(hook_type: str, codebase: str) -> dict[str, Any] | None:
    if hook_type == 'DistOptimizerHook':
        return _DIST_HOOK_PARAMS.get(codebase, HOOK_PARAMS['OptimizerHook'])
    return HOOK_PARAMS.get(hook_type)


def _call_kwargs(*parts: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``**a, **b, ...`` the way a Python call does (TypeError on None or duplicates)."""
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, Mapping):
            raise TypeError(f'argument after ** must be a mapping, not {type(part).__name__}')
        for key, value in part.items():
            if key in merged:
                raise TypeError(f"got multiple values for keyword argument '{key}'")
            merged[key] = value
    return merged


def _check_kwargs(hook_type: str, kwargs: Mapping[str, Any], codebase: str) -> None:
    params = _hook_params(hook_type, codebase)
    if params is None:
        return
    for key in kwargs:
        if key not in params:
            raise TypeError(f"{hook_type}.__init__() got an unexpected keyword argument '{key}'")


def _finish(
    hook_type: str, kwargs: Mapping[str, Any], codebase: str, fill_defaults: bool
) -> dict[str, Any]:
    _check_kwargs(hook_type, kwargs, codebase)
    out = {'type': hook_type}
    if fill_defaults:
        out.update(_hook_params(hook_type, codebase) or {})
    out.update(kwargs)
    return out


def _get_optimizer_config(cfg: Mapping[str, Any]) -> Any:
    if 'optimizer_config' not in cfg:
        raise KeyError('optimizer_config')
    return cfg['optimizer_config']


def _passthrough(optimizer_config: Any, codebase: str, fill_defaults: bool) -> dict | None:
    # mmcv register_optimizer_hook: None registers nothing; a dict defaults to OptimizerHook.
    if optimizer_config is None:
        return None
    if not isinstance(optimizer_config, Mapping):
        raise TypeError(f'optimizer_config must be a dict or None, got {type(optimizer_config)}')
    kwargs = dict(optimizer_config)
    hook_type = kwargs.pop('type', 'OptimizerHook')
    return _finish(hook_type, kwargs, codebase, fill_defaults)


def _distributed_default(
    optimizer_config: Any, hook_type: str, codebase: str, fill_defaults: bool
) -> dict:
    return _finish(hook_type, _call_kwargs(optimizer_config), codebase, fill_defaults)


def resolve_optimizer_hook(
    cfg: Mapping[str, Any],
    codebase: str,
    distributed: bool = False,
    *,
    fill_defaults: bool = False,
) -> dict[str, Any] | None:
    """The optimizer hook a 0.x train API registers for ``cfg``, as a config dict, or None.

    The returned dict always has an explicit ``type`` (one of the mmcv hooks, or
    ``DistOptimizerHook``, or whatever custom type the config named) and the keyword arguments
    the hook is built with; ``fill_defaults=True`` adds the hook's defaults for missing
    arguments (e.g. ``loss_scale=512.``). ``None`` means no optimizer hook is registered (the
    model steps its optimizers itself, or ``optimizer_config`` is None). Errors are those the
    upstream code raises: ``TypeError`` for duplicate or unexpected hook arguments (e.g. mmdet
    ``fp16`` with ``optimizer_config.type``), ``KeyError`` for mmcls ``fp16`` without
    ``loss_scale``, ``NotImplementedError`` for mmgen fp16 with an ``optimizer_cfg``. The fp16
    hook's own ``loss_scale`` validation (``ValueError`` for an int) happens when the hook is
    built, as in mmcv.
    """
    api = supported_api(codebase, cfg)
    cb = api.name
    if api.fp16 == HOOKLESS:
        if cb != 'mmgen' or cfg.get('optimizer_cfg', None) is None:
            return None
        # mmgen tests ``optimizer_cfg`` (sic); only then are optimizer_config/fp16 read
        if cfg.get('fp16', None) is not None:
            raise NotImplementedError('Fp16 has not been supported.')
        optimizer_config = _get_optimizer_config(cfg)
        if distributed and 'type' not in optimizer_config:
            return _distributed_default(optimizer_config, 'OptimizerHook', cb, fill_defaults)
        return _passthrough(optimizer_config, cb, fill_defaults)
    if api.fp16 == FP16_IGNORED:
        return _passthrough(_get_optimizer_config(cfg), cb, fill_defaults)

    fp16 = cfg.get('fp16', None)
    optimizer_config = _get_optimizer_config(cfg)
    if fp16 is not None:
        if api.fp16 == MERGED:
            kwargs = _call_kwargs(optimizer_config, fp16, {'distributed': distributed})
        elif api.fp16 == LOSS_SCALE_ONLY:
            base = _call_kwargs(optimizer_config)  # `**optimizer_config` is evaluated first
            if not isinstance(fp16, Mapping):
                raise TypeError(f"'{type(fp16).__name__}' object is not subscriptable")
            kwargs = _call_kwargs(
                base, {'loss_scale': fp16['loss_scale'], 'distributed': distributed}
            )
        else:
            raise UnsupportedCodebase(f'{cb}: fp16 profile {api.fp16!r} is not modelled')
        return _finish('Fp16OptimizerHook', kwargs, cb, fill_defaults)
    if distributed and api.dist_hook:
        if optimizer_config is None:
            if api.none_guard:
                return None
            raise TypeError("argument of type 'NoneType' is not iterable")
        if 'type' not in optimizer_config:
            return _distributed_default(optimizer_config, api.dist_hook, cb, fill_defaults)
    return _passthrough(optimizer_config, cb, fill_defaults)


def _runner_length(runner: Mapping[str, Any]) -> TrainLength:
    if not isinstance(runner, Mapping):
        raise TypeError(f'runner must be a dict, got {type(runner)}')
    runner_type = runner.get('type')
    if not isinstance(runner_type, str):
        raise KeyError('runner config needs a "type"')
    max_epochs = runner.get('max_epochs')
    max_iters = runner.get('max_iters')
    if max_epochs is not None and max_iters is not None:
        # mmcv BaseRunner.__init__
        raise ValueError('Only one of `max_epochs` or `max_iters` can be set.')
    if 'Epoch' in runner_type:
        if max_epochs is None:
            raise ValueError(f'{runner_type} needs max_epochs')
        return TrainLength(True, int(max_epochs))
    if 'Iter' in runner_type:
        if max_iters is None:
            raise ValueError(f'{runner_type} needs max_iters')
        return TrainLength(False, int(max_iters))
    raise ValueError(f'unknown runner type {runner_type!r}')


def resolve_train_length(cfg: Mapping[str, Any], codebase: str) -> TrainLength:
    """``(by_epoch, max_epochs or max_iters)`` of a 0.x config, per codebase
    (docs/schedules.md#runner-and-totals).

    mmdet: ``'runner' not in cfg`` -> epochs from ``total_epochs``; when both exist they must be
    equal (``ValueError`` here, an assert upstream). mmcls/mmseg: ``cfg.get('runner') is None``
    -> epochs from ``total_epochs`` (mmcls) or iterations from ``total_iters`` (mmseg).
    mmgen: a truthy ``runner`` is used, otherwise a plain ``IterBasedRunner``, and a non-None
    ``total_iters`` overrides its length (given to an ``EpochBasedRunner``, that positional
    argument would be taken as ``max_epochs``, which is reproduced). mmedit: always
    iteration-based for ``total_iters``. The other codebases follow their row of the shared
    table (``runner`` rule and ``default_runner``, :mod:`migrate_optim.codebases`).
    """
    model = cfg.get('model')
    model_type = model.get('type') if isinstance(model, Mapping) else None
    api = train_api(codebase, model_type if isinstance(model_type, str) else None)
    cb = api.name
    if cb == 'mmgen':
        return _mmgen_length(cfg)
    if api.runner == 'fixed':
        # the trainer always builds its default runner and runs it for cfg.<length key>
        assert api.default_runner is not None
        runner_type, key = api.default_runner
        if cfg.get(key) is None:
            raise KeyError(key)
        return TrainLength('Epoch' in runner_type, int(cfg[key]))
    if api.runner == 'absent':
        if 'runner' not in cfg:
            return _default_length(cfg, api)
        runner = cfg['runner']
        if runner is None:
            raise TypeError('runner is None: build_runner needs a dict')
        if 'total_epochs' in cfg and cfg['total_epochs'] != runner.get('max_epochs'):
            raise ValueError(
                f'total_epochs ({cfg["total_epochs"]}) != runner.max_epochs '
                f'({runner.get("max_epochs")})'
            )
        return _runner_length(runner)
    runner = cfg.get('runner')
    if runner is None:
        if api.runner == 'required':
            raise KeyError('runner')
        return _default_length(cfg, api)
    return _runner_length(runner)


def _default_length(cfg: Mapping[str, Any], api: TrainAPI) -> TrainLength:
    assert api.default_runner is not None
    runner_type, key = api.default_runner
    if cfg.get(key) is None:
        raise KeyError(key)
    return TrainLength('Epoch' in runner_type, int(cfg[key]))


def _mmgen_length(cfg: Mapping[str, Any]) -> TrainLength:
    total_iters = cfg.get('total_iters')
    runner = cfg.get('runner')
    if not runner:
        if total_iters is None:
            raise KeyError('total_iters')
        return TrainLength(False, int(total_iters))
    if total_iters is not None:
        by_epoch = 'Epoch' in str(runner.get('type'))
        return TrainLength(by_epoch, int(total_iters))
    return _runner_length(runner)
