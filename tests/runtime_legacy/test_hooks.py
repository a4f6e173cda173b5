"""0.x optimizer hooks driven by LegacyRunner (spec 3.1), with parity checks against mmcv 1.7.2."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torch import nn

from migrate_optim.runtime.legacy import (
    DistOptimizerHook,
    Fp16OptimizerHook,
    GradientCumulativeFp16OptimizerHook,
    GradientCumulativeOptimizerHook,
    LegacyRunner,
    OptimizerHook,
    build_legacy_runner,
    build_optimizer_hook,
)

from ._mmcv import mmcv_runner

LR = 0.1


def make_model(seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype)


def batch(i: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + i)
    x = torch.randn(5, 4, generator=gen, dtype=dtype)
    y = torch.randn(5, 1, generator=gen, dtype=dtype)
    return x, y


def forward(runner: LegacyRunner) -> dict:
    x, y = batch(runner.iter, next(runner.model.parameters()).dtype)
    return {'loss': ((runner.model(x) - y) ** 2).mean(), 'num_samples': len(x)}


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def loss_grads(model: nn.Module, i: int, factor: float = 1.0) -> list[torch.Tensor]:
    x, y = batch(i)
    loss = ((model(x) - y) ** 2).mean() / factor
    return list(torch.autograd.grad(loss, list(model.parameters())))


# -- OptimizerHook --------------------------------------------------------------------------------
def test_optimizer_hook_zeroes_grads_before_backward() -> None:
    model = make_model()
    reference = copy.deepcopy(model)
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 3, [dict()])
    for p in model.parameters():  # stale gradients that must not leak into the update
        p.grad = torch.full_like(p, 100.0)
    for i in range(3):
        runner.train_iter(forward)
        grads = loss_grads(reference, i)
        with torch.no_grad():
            for p, g in zip(reference.parameters(), grads, strict=True):
                p -= LR * g
        assert torch.allclose(flat(model), flat(reference), atol=1e-12)
    assert runner.iter == 3


def test_grad_clip_uses_all_model_params_with_grad() -> None:
    model = make_model()
    # the optimizer holds only the last layer; the clip norm still counts the first layer's grads
    opt = torch.optim.SGD(model[2].parameters(), lr=LR)
    hook = OptimizerHook(grad_clip=dict(max_norm=0.01))
    runner = LegacyRunner(model, opt, 1, [hook])
    before_last = [p.detach().clone() for p in model[2].parameters()]
    before_first = [p.detach().clone() for p in model[0].parameters()]
    grads = loss_grads(copy.deepcopy(model), 0)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    runner.train_iter(forward)
    coef = 0.01 / (float(total) + 1e-6)
    for p, b, g in zip(model[2].parameters(), before_last, grads[2:], strict=True):
        assert torch.allclose(p, b - LR * coef * g, atol=1e-12)
    for p, b in zip(model[0].parameters(), before_first, strict=True):
        assert torch.equal(p, b)  # not in the optimizer: clipped but never stepped
    assert runner.log_buffer.val_history['grad_norm'] == [pytest.approx(float(total))]


def test_detect_anomalous_params_reports_unused_parameters(caplog) -> None:
    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = make_model()
            self.unused = nn.Linear(2, 2).double()

        def forward(self, x):
            return self.net(x)

    model = WithUnused()
    hook = OptimizerHook(detect_anomalous_params=True)
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 1, [hook])
    with caplog.at_level(logging.ERROR, logger='migrate_optim.legacy'):
        runner.train_iter(forward)
    assert 'unused.weight' in caplog.text and 'unused.bias' in caplog.text
    assert 'net.0.weight' not in caplog.text
    assert hook.detect_anomalous_parameters(forward(runner)['loss'], runner) == [
        'unused.weight',
        'unused.bias',
    ]


# -- GradientCumulativeOptimizerHook --------------------------------------------------------------
def test_cumulative_windows_and_remainder_division() -> None:
    c, max_iters = 3, 8  # divisible 6, remainder 2 -> updates at 2, 5, 7
    model = make_model()
    reference = copy.deepcopy(model)
    hook = GradientCumulativeOptimizerHook(cumulative_iters=c)
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), max_iters, [hook])
    acc = [torch.zeros_like(p) for p in reference.parameters()]
    update_iters = []
    for i in range(max_iters):
        before = flat(model)
        runner.train_iter(forward)
        factor = c if i < 6 else 2
        for a, g in zip(acc, loss_grads(reference, i, factor), strict=True):
            a += g
        if i in (2, 5, 7):
            with torch.no_grad():
                for p, a in zip(reference.parameters(), acc, strict=True):
                    p -= LR * a
                    a.zero_()
        if not torch.equal(before, flat(model)):
            update_iters.append(i)
        assert torch.allclose(flat(model), flat(reference), atol=1e-12)
    assert update_iters == [2, 5, 7]
    assert (hook.divisible_iters, hook.remainder_iters) == (6, 2)


def test_cumulative_warns_on_resume_and_batchnorm(caplog) -> None:
    model = nn.Sequential(nn.Linear(4, 1), nn.BatchNorm1d(1)).double()
    hook = GradientCumulativeOptimizerHook(cumulative_iters=2)
    runner = LegacyRunner(
        model, torch.optim.SGD(model.parameters(), lr=LR), 6, [hook], start_iter=3
    )
    with caplog.at_level(logging.WARNING, logger='migrate_optim.legacy'):
        runner.train_iter(forward)
    assert 'Resume iter number is not divisible' in caplog.text
    assert 'BatchNorm' in caplog.text


@pytest.mark.parametrize('bad', [0, -1, 2.0])
def test_cumulative_iters_must_be_positive_int(bad) -> None:
    with pytest.raises(AssertionError):
        GradientCumulativeOptimizerHook(cumulative_iters=bad)


@pytest.mark.parametrize(
    ('ours', 'mmcv_name', 'kwargs', 'max_iters'),
    [
        (OptimizerHook, 'OptimizerHook', {}, 4),
        (OptimizerHook, 'OptimizerHook', {'grad_clip': {'max_norm': 0.05}}, 4),
        (GradientCumulativeOptimizerHook, 'GradientCumulativeOptimizerHook',
         {'cumulative_iters': 3}, 7),
        (GradientCumulativeOptimizerHook, 'GradientCumulativeOptimizerHook',
         {'cumulative_iters': 2, 'grad_clip': {'max_norm': 0.05, 'norm_type': 1.0}}, 5),
    ],
)
def test_hooks_match_real_mmcv(ours, mmcv_name, kwargs, max_iters) -> None:
    runner_mod = mmcv_runner()
    model_a, model_b = make_model(), make_model()
    run_a = LegacyRunner(
        model_a, torch.optim.SGD(model_a.parameters(), lr=LR, momentum=0.9), max_iters,
        [ours(**copy.deepcopy(kwargs))],
    )
    # LegacyRunner has the attributes mmcv's hooks read (iter, _max_iters, outputs, log_buffer...)
    run_b = LegacyRunner(
        model_b, torch.optim.SGD(model_b.parameters(), lr=LR, momentum=0.9), max_iters,
        [getattr(runner_mod, mmcv_name)(**copy.deepcopy(kwargs))],
    )
    for _ in range(max_iters):
        run_a.train_iter(forward)
        run_b.train_iter(forward)
        assert torch.equal(flat(model_a), flat(model_b))
    assert run_a.log_buffer.val_history == run_b.log_buffer.val_history


# -- Fp16OptimizerHook ----------------------------------------------------------------------------
@pytest.mark.parametrize('bad', [512, True, 'static', None, [512.0]])
def test_fp16_loss_scale_rejects_int_and_others(bad) -> None:
    with pytest.raises(ValueError, match='loss_scale'):
        Fp16OptimizerHook(loss_scale=bad, device_type='cpu')


def test_fp16_loss_scale_kinds_cpu() -> None:
    dynamic = Fp16OptimizerHook(loss_scale='dynamic', device_type='cpu')
    assert dynamic.loss_scaler.get_scale() == 65536.0 and dynamic._scale_update_param is None
    static = Fp16OptimizerHook(loss_scale=512.0, device_type='cpu')
    assert static.loss_scaler.get_scale() == 512.0 and static._scale_update_param == 512.0
    custom = Fp16OptimizerHook(
        loss_scale=dict(init_scale=8.0, growth_interval=3), device_type='cpu'
    )
    assert custom.loss_scaler.get_scale() == 8.0
    assert custom.loss_scaler.get_growth_interval() == 3
    assert Fp16OptimizerHook(device_type='cpu').loss_scaler.get_scale() == 512.0  # default 512.


def _run_fp16(hook: Fp16OptimizerHook, iters: int, model: nn.Module | None = None) -> LegacyRunner:
    model = model or make_model(dtype=torch.float32)
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), iters, [hook])
    for _ in range(iters):
        runner.train_iter(forward)
    return runner


def test_fp16_static_scale_is_reapplied_but_dynamic_grows() -> None:
    static = Fp16OptimizerHook(loss_scale=4.0, device_type='cpu')
    growing = Fp16OptimizerHook(loss_scale=dict(init_scale=4.0, growth_interval=1),
                                device_type='cpu')
    _run_fp16(static, 3)
    _run_fp16(growing, 3)
    assert static.loss_scaler.get_scale() == 4.0
    assert growing.loss_scaler.get_scale() == 32.0


def test_fp16_skips_nonfinite_steps_and_stores_state_in_meta() -> None:
    model = make_model(dtype=torch.float32)
    hook = Fp16OptimizerHook(loss_scale=512.0, device_type='cpu')
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 2, [hook])
    before = flat(model)
    runner.train_iter(lambda r: {'loss': forward(r)['loss'] * float('inf')})
    assert torch.equal(before, flat(model))  # skipped step
    assert hook.loss_scaler.get_scale() == 512.0  # static scale restored by update(512.)
    runner.train_iter(forward)
    assert not torch.equal(before, flat(model))
    assert runner.meta['fp16']['loss_scaler']['scale'] == 512.0


def test_fp16_before_run_restores_scale_from_meta() -> None:
    hook = Fp16OptimizerHook(loss_scale='dynamic', device_type='cpu')
    model = make_model(dtype=torch.float32)
    state = Fp16OptimizerHook(loss_scale=dict(init_scale=64.0), device_type='cpu')
    runner = LegacyRunner(
        model, torch.optim.SGD(model.parameters(), lr=LR), 1, [hook],
        meta={'fp16': {'loss_scaler': state.loss_scaler.state_dict()}},
    )
    hook.before_run(runner)
    assert hook.loss_scaler.get_scale() == 64.0


def test_fp16_forward_runs_under_bf16_autocast_on_cpu() -> None:
    seen = {}

    def fwd(runner):
        x, y = batch(runner.iter, torch.float32)
        out = runner.model(x)
        seen['dtype'] = out.dtype
        return ((out.float() - y) ** 2).mean()

    model = make_model(dtype=torch.float32)
    model.fp16_enabled = False
    hook = Fp16OptimizerHook(loss_scale=512.0)
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 1, [hook])
    before = flat(model)
    runner.train_iter(fwd)
    assert seen['dtype'] == torch.bfloat16
    assert model.fp16_enabled is True  # wrap_fp16_model
    assert hook.device_type == 'cpu'
    assert not torch.equal(before, flat(model))
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.filterwarnings('ignore::FutureWarning', 'ignore::UserWarning')
def test_fp16_hook_without_autocast_matches_mmcv_hook() -> None:
    # On a CPU machine mmcv's torch.cuda.amp.GradScaler is disabled; ours scales by a power of
    # two and unscales, which is exact in float32, so both give the same parameters.
    runner_mod = mmcv_runner()
    model_a, model_b = make_model(dtype=torch.float32), make_model(dtype=torch.float32)
    ours = Fp16OptimizerHook(loss_scale=512.0, grad_clip=dict(max_norm=0.05), device_type='cpu')
    theirs = runner_mod.Fp16OptimizerHook(loss_scale=512.0, grad_clip=dict(max_norm=0.05))
    run_a = LegacyRunner(model_a, torch.optim.SGD(model_a.parameters(), lr=LR), 3)
    run_b = LegacyRunner(model_b, torch.optim.SGD(model_b.parameters(), lr=LR), 3)
    for runner, hook in ((run_a, ours), (run_b, theirs)):
        runner.register_hook(hook, 'ABOVE_NORMAL')
    for _ in range(3):
        for runner in (run_a, run_b):
            runner.outputs = forward(runner)
            runner.call_hook('after_train_iter')
            runner.iter += 1
        assert torch.allclose(flat(model_a), flat(model_b), rtol=0, atol=1e-7)


# -- GradientCumulativeFp16OptimizerHook -----------------------------------------------------------
def test_cumulative_fp16_updates_only_at_window_ends() -> None:
    model = make_model(dtype=torch.float32)
    hook = GradientCumulativeFp16OptimizerHook(
        2, loss_scale=dict(init_scale=4.0, growth_interval=1), device_type='cpu'
    )
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 5, [hook])
    changed = []
    for _ in range(5):
        before = flat(model)
        runner.train_iter(forward)
        changed.append(not torch.equal(before, flat(model)))
    assert changed == [False, True, False, True, True]
    # scaler.update only at the three update points: 4 -> 8 -> 16 -> 32
    assert hook.loss_scaler.get_scale() == 32.0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_cumulative_fp16_rejects_detect_anomalous_params() -> None:
    with pytest.raises(TypeError):
        GradientCumulativeFp16OptimizerHook(cumulative_iters=2, detect_anomalous_params=True)


# -- building -------------------------------------------------------------------------------------
def test_build_optimizer_hook_defaults_and_types() -> None:
    assert build_optimizer_hook(None) is None
    hook = build_optimizer_hook(dict(grad_clip=dict(max_norm=1.0)))
    assert type(hook) is OptimizerHook and hook.grad_clip == {'max_norm': 1.0}
    hook = build_optimizer_hook(dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4))
    assert type(hook) is GradientCumulativeOptimizerHook and hook.cumulative_iters == 4
    hook = build_optimizer_hook(dict(type='Fp16OptimizerHook', loss_scale='dynamic'))
    assert type(hook) is Fp16OptimizerHook
    hook = build_optimizer_hook(dict(type='DistOptimizerHook', grad_clip=None, coalesce=True))
    assert isinstance(hook, DistOptimizerHook)
    with pytest.raises(TypeError):
        build_optimizer_hook(dict(type='Fp16OptimizerHook', cumulative_iters=2))
    with pytest.raises(ValueError):
        build_optimizer_hook(dict(type='Fp16OptimizerHook', loss_scale=512))
    same = OptimizerHook()
    assert build_optimizer_hook(same) is same


@pytest.mark.cuda
def test_fp16_on_cuda_uses_float16_autocast_and_cuda_scaler() -> None:
    if not torch.cuda.is_available():
        pytest.skip('needs CUDA')
    seen = {}

    def fwd(runner):
        x, y = batch(runner.iter, torch.float32)
        out = runner.model(x.cuda())
        seen['dtype'] = out.dtype
        return ((out.float() - y.cuda()) ** 2).mean()

    model = make_model(dtype=torch.float32).cuda()
    hook = Fp16OptimizerHook(loss_scale='dynamic')
    runner = LegacyRunner(model, torch.optim.SGD(model.parameters(), lr=LR), 2, [hook])
    runner.run(fwd)
    assert seen['dtype'] == torch.float16
    assert hook.device_type == 'cuda'
    assert hook.loss_scaler.get_scale() == 65536.0


def test_build_legacy_runner_from_a_0x_config() -> None:
    cfg = dict(
        optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=1e-4,
                       paramwise_cfg=dict(bias_decay_mult=0.0)),
        optimizer_config=dict(type='GradientCumulativeOptimizerHook', cumulative_iters=2,
                              grad_clip=dict(max_norm=1.0)),
        runner=dict(type='EpochBasedRunner', max_epochs=2),
    )
    model = make_model()
    runner = build_legacy_runner(model, cfg, 'mmdet', iters_per_epoch=3)
    assert runner.max_iters == 6
    assert isinstance(runner.optimizer, torch.optim.SGD) and len(runner.optimizer.param_groups) == 4
    [hook] = runner.hooks
    assert type(hook) is GradientCumulativeOptimizerHook and hook.cumulative_iters == 2
    runner.run(forward)
    assert runner.iter == 6 and runner.epoch == 2
    with pytest.raises(ValueError, match='iters_per_epoch'):
        build_legacy_runner(make_model(), cfg, 'mmdet')
    with pytest.raises(ValueError):
        build_legacy_runner(make_model(), cfg, 'mmgen')
    seg = build_legacy_runner(
        make_model(), dict(cfg, optimizer_config=dict(), runner=None, total_iters=4), 'mmseg'
    )
    assert seg.max_iters == 4 and type(seg.hooks[0]) is OptimizerHook
