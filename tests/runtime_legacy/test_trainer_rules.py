"""Per-codebase optimizer-hook and run-length resolution (spec 3.2, 5.3)."""

from __future__ import annotations

import inspect

import pytest

from migrate_optim.codebases import UnsupportedCodebase
from migrate_optim.runtime.legacy import (
    HOOK_PARAMS,
    Fp16OptimizerHook,
    GradientCumulativeFp16OptimizerHook,
    GradientCumulativeOptimizerHook,
    OptimizerHook,
    TrainLength,
    build_optimizer_hook,
    normalize_codebase,
    resolve_optimizer_hook,
    resolve_train_length,
)

CLIP = dict(max_norm=35, norm_type=2)


# -- mmdet 2.28.2 ---------------------------------------------------------------------------------
def test_mmdet_fp16_merges_optimizer_config_and_fp16() -> None:
    cfg = dict(optimizer_config=dict(grad_clip=CLIP), fp16=dict(loss_scale='dynamic'))
    assert resolve_optimizer_hook(cfg, 'mmdet') == dict(
        type='Fp16OptimizerHook', grad_clip=CLIP, loss_scale='dynamic', distributed=False
    )
    assert resolve_optimizer_hook(cfg, 'mmdet', distributed=True)['distributed'] is True


def test_mmdet_empty_fp16_dict_enables_fp16_with_default_scale() -> None:
    # train_detector tests ``cfg.get('fp16', None) is not None``, not truthiness
    cfg = dict(optimizer_config=dict(grad_clip=None), fp16=dict())
    hook = resolve_optimizer_hook(cfg, 'mmdet', fill_defaults=True)
    assert hook['type'] == 'Fp16OptimizerHook' and hook['loss_scale'] == 512.0
    assert resolve_optimizer_hook(dict(cfg, fp16=None), 'mmdet') == dict(
        type='OptimizerHook', grad_clip=None
    )


def test_mmdet_fp16_passes_extra_fp16_keys_to_the_hook() -> None:
    cfg = dict(optimizer_config=dict(), fp16=dict(loss_scale=512.0, coalesce=False))
    assert resolve_optimizer_hook(cfg, 'mmdet')['coalesce'] is False
    with pytest.raises(TypeError, match='unexpected keyword'):
        resolve_optimizer_hook(dict(cfg, fp16=dict(foo=1)), 'mmdet')


@pytest.mark.parametrize(
    'optimizer_config',
    [
        dict(type='GradientCumulativeOptimizerHook', cumulative_iters=2),
        dict(type='Fp16OptimizerHook', loss_scale=512.0),
    ],
)
def test_mmdet_fp16_with_typed_optimizer_config_is_type_error(optimizer_config) -> None:
    cfg = dict(optimizer_config=optimizer_config, fp16=dict(loss_scale=512.0))
    with pytest.raises(TypeError):
        resolve_optimizer_hook(cfg, 'mmdet')


def test_mmdet_duplicate_keys_are_type_error() -> None:
    cfg = dict(optimizer_config=dict(loss_scale=1.0), fp16=dict(loss_scale=512.0))
    with pytest.raises(TypeError, match="multiple values for keyword argument 'loss_scale'"):
        resolve_optimizer_hook(cfg, 'mmdet')
    cfg = dict(optimizer_config=dict(distributed=True), fp16=dict())
    with pytest.raises(TypeError, match='distributed'):
        resolve_optimizer_hook(cfg, 'mmdet')


def test_mmdet_without_fp16() -> None:
    typed = dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4)
    assert resolve_optimizer_hook(dict(optimizer_config=typed), 'mmdet') == typed
    assert resolve_optimizer_hook(dict(optimizer_config=typed), 'mmdet', distributed=True) == typed
    assert resolve_optimizer_hook(dict(optimizer_config=None), 'mmdet') is None
    assert resolve_optimizer_hook(
        dict(optimizer_config=dict(grad_clip=CLIP)), 'mmdet', distributed=True
    ) == dict(type='OptimizerHook', grad_clip=CLIP)
    with pytest.raises(TypeError):
        resolve_optimizer_hook(dict(optimizer_config=None), 'mmdet', distributed=True)
    with pytest.raises(TypeError):
        resolve_optimizer_hook(dict(optimizer_config=None, fp16=dict()), 'mmdet')


# -- mmcls 0.25.0 ---------------------------------------------------------------------------------
def test_mmcls_fp16_reads_only_loss_scale() -> None:
    cfg = dict(optimizer_config=dict(grad_clip=None), fp16=dict(loss_scale=256.0, coalesce=False))
    assert resolve_optimizer_hook(cfg, 'mmcls') == dict(
        type='Fp16OptimizerHook', grad_clip=None, loss_scale=256.0, distributed=False
    )


def test_mmcls_fp16_without_loss_scale_is_key_error() -> None:
    with pytest.raises(KeyError, match='loss_scale'):
        resolve_optimizer_hook(dict(optimizer_config=dict(), fp16=dict()), 'mmcls')


def test_mmcls_distributed_uses_its_dist_optimizer_hook() -> None:
    cfg = dict(optimizer_config=dict(grad_clip=CLIP))
    assert resolve_optimizer_hook(cfg, 'mmcls', distributed=True) == dict(
        type='DistOptimizerHook', grad_clip=CLIP
    )
    assert resolve_optimizer_hook(cfg, 'mmcls') == dict(type='OptimizerHook', grad_clip=CLIP)
    # mmcls's DistOptimizerHook(grad_clip, coalesce, bucket_size_mb) has no anomaly detection
    bad = dict(optimizer_config=dict(detect_anomalous_params=True))
    with pytest.raises(TypeError):
        resolve_optimizer_hook(bad, 'mmcls', distributed=True)
    assert resolve_optimizer_hook(bad, 'mmdet', distributed=True)['detect_anomalous_params']


# -- mmseg 0.30.0 ---------------------------------------------------------------------------------
def test_mmseg_ignores_top_level_fp16() -> None:
    cfg = dict(optimizer_config=dict(), fp16=dict(loss_scale=512.0))
    assert resolve_optimizer_hook(cfg, 'mmseg') == dict(type='OptimizerHook')
    typed = dict(type='Fp16OptimizerHook', loss_scale=512.0)
    assert resolve_optimizer_hook(dict(optimizer_config=typed, fp16=dict()), 'mmseg') == typed
    assert resolve_optimizer_hook(dict(optimizer_config=None), 'mmseg') is None


# -- mmgen 0.7.3 / mmedit 0.16.1 ------------------------------------------------------------------
def test_mmgen_and_mmedit_register_no_optimizer_hook() -> None:
    cfg = dict(optimizer_config=dict(grad_clip=CLIP), fp16=dict(loss_scale=512.0))
    assert resolve_optimizer_hook(cfg, 'mmgen') is None
    assert resolve_optimizer_hook(cfg, 'mmgen', distributed=True) is None
    assert resolve_optimizer_hook(cfg, 'mmedit') is None
    assert resolve_optimizer_hook(cfg, 'mmediting', distributed=True) is None


def test_mmgen_optimizer_cfg_key_quirk() -> None:
    # mmgen tests ``optimizer_cfg`` (sic); only then is optimizer_config/fp16 looked at
    cfg = dict(optimizer_cfg=dict(), optimizer_config=dict(grad_clip=CLIP))
    assert resolve_optimizer_hook(cfg, 'mmgen') == dict(type='OptimizerHook', grad_clip=CLIP)
    with pytest.raises(NotImplementedError):
        resolve_optimizer_hook(dict(cfg, fp16=dict()), 'mmgen')


def test_unknown_codebase() -> None:
    assert normalize_codebase('MMDetection') == 'mmdet'
    with pytest.raises(UnsupportedCodebase, match='unknown 0.x codebase'):
        resolve_optimizer_hook(dict(optimizer_config=dict()), 'mmfoo')


def test_resolved_configs_build_the_runtime_hooks() -> None:
    hook = build_optimizer_hook(
        resolve_optimizer_hook(
            dict(optimizer_config=dict(grad_clip=CLIP), fp16=dict(loss_scale='dynamic')), 'mmdet'
        )
    )
    assert isinstance(hook, Fp16OptimizerHook) and hook.grad_clip == CLIP
    # an int loss scale passes resolution and fails when the hook is built, as in mmcv
    resolved = resolve_optimizer_hook(
        dict(optimizer_config=dict(), fp16=dict(loss_scale=512)), 'mmcls'
    )
    with pytest.raises(ValueError):
        build_optimizer_hook(resolved)


def test_hook_param_table_matches_runtime_signatures() -> None:
    classes = {
        'OptimizerHook': OptimizerHook,
        'GradientCumulativeOptimizerHook': GradientCumulativeOptimizerHook,
        'Fp16OptimizerHook': Fp16OptimizerHook,
        'GradientCumulativeFp16OptimizerHook': GradientCumulativeFp16OptimizerHook,
    }
    for name, cls in classes.items():
        params: dict = {}
        for klass in cls.__mro__:  # collect keyword params along the __init__ chain
            if '__init__' not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != 'self':
                    params.setdefault(p.name, p.default)
            if name.endswith('Fp16OptimizerHook') and klass is Fp16OptimizerHook:
                break
            if klass is OptimizerHook:
                break
        assert params == HOOK_PARAMS[name], name


# -- run length -----------------------------------------------------------------------------------
def test_mmdet_run_length() -> None:
    assert resolve_train_length(dict(total_epochs=12), 'mmdet') == TrainLength(True, 12)
    runner = dict(type='EpochBasedRunner', max_epochs=24)
    assert resolve_train_length(dict(runner=runner), 'mmdet') == (True, 24)
    assert resolve_train_length(dict(runner=runner, total_epochs=24), 'mmdet') == (True, 24)
    with pytest.raises(ValueError):
        resolve_train_length(dict(runner=runner, total_epochs=12), 'mmdet')
    iters = dict(type='IterBasedRunner', max_iters=9000)
    assert resolve_train_length(dict(runner=iters), 'mmdet') == (False, 9000)
    with pytest.raises(TypeError):  # 'runner' present but None: not replaced by compat_cfg
        resolve_train_length(dict(runner=None, total_epochs=12), 'mmdet')


def test_mmcls_and_mmseg_run_length() -> None:
    assert resolve_train_length(dict(runner=None, total_epochs=100), 'mmcls') == (True, 100)
    assert resolve_train_length(dict(total_iters=80000), 'mmseg') == (False, 80000)
    assert resolve_train_length(dict(runner=None, total_iters=160), 'mmseg') == (False, 160)
    runner = dict(type='IterBasedRunner', max_iters=40000)
    assert resolve_train_length(dict(runner=runner, total_iters=1), 'mmseg') == (False, 40000)
    with pytest.raises(KeyError):
        resolve_train_length(dict(), 'mmseg')
    with pytest.raises(ValueError, match='Only one'):
        resolve_train_length(
            dict(runner=dict(type='EpochBasedRunner', max_epochs=1, max_iters=2)), 'mmcls'
        )


def test_mmgen_and_mmedit_run_length() -> None:
    runner = dict(type='DynamicIterBasedRunner', is_dynamic_ddp=True, pass_training_status=True)
    assert resolve_train_length(dict(runner=runner, total_iters=800000), 'mmgen') == (False, 800000)
    assert resolve_train_length(dict(runner=None, total_iters=5), 'mmgen') == (False, 5)
    with_max = dict(runner, max_iters=10)
    assert resolve_train_length(dict(runner=with_max, total_iters=None), 'mmgen') == (False, 10)
    assert resolve_train_length(dict(runner=with_max, total_iters=7), 'mmgen') == (False, 7)
    # the run() argument lands in max_epochs of an epoch runner
    epochs = dict(type='EpochBasedRunner', max_epochs=3)
    assert resolve_train_length(dict(runner=epochs, total_iters=7), 'mmgen') == (True, 7)
    assert resolve_train_length(dict(runner=runner, total_iters=300), 'mmedit') == (False, 300)
    with pytest.raises(KeyError):
        resolve_train_length(dict(runner=with_max), 'mmedit')
