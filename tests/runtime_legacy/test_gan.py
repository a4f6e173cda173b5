"""MMGeneration 0.7.3 GAN train_step schedules (spec 1.2-1.7) and the 0.x EMA hook (spec 1.8)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from migrate_optim.runtime.legacy import (
    ExponentialMovingAverageHook,
    GANCallbacks,
    LegacyGANRunner,
    build_optimizers,
    optimizer_actions,
    resolve_gan_kind,
    step_iterations,
)

DTYPE = torch.float64


class ToyGAN(nn.Module):
    def __init__(self, seed: int = 0, dtype: torch.dtype = DTYPE) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.generator = nn.Linear(2, 3).to(dtype)
        self.discriminator = nn.Linear(3, 1).to(dtype)


class ToyTranslation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.generators = nn.ModuleDict({'a': nn.Linear(3, 3).double()})
        self.discriminators = nn.ModuleDict({'a': nn.Linear(3, 1).double()})


def _randn(seed: int, *shape: int, dtype: torch.dtype = DTYPE) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def real(i: int, dtype: torch.dtype = DTYPE) -> torch.Tensor:
    return _randn(10_000 + i, 4, 3, dtype=dtype) + 1.0


def noise(i: int, phase: str, index: int, dtype: torch.dtype = DTYPE) -> torch.Tensor:
    return _randn(20_000 + 100 * i + 10 * index + (phase == 'g'), 4, 2, dtype=dtype)


def disc_loss_of(model, i: int, index: int = 0):
    dtype = model.discriminator.weight.dtype
    with torch.no_grad():
        fake = model.generator(noise(i, 'd', index, dtype))
    d = model.discriminator
    return F.softplus(d(fake)).mean() + F.softplus(-d(real(i, dtype))).mean()


def gen_loss_of(model, i: int, index: int = 0):
    dtype = model.generator.weight.dtype
    return F.softplus(-model.discriminator(model.generator(noise(i, 'g', index, dtype)))).mean()


CALLBACKS = GANCallbacks(
    disc_loss=lambda ctx: disc_loss_of(ctx.model, ctx.iteration, ctx.index),
    gen_loss=lambda ctx: gen_loss_of(ctx.model, ctx.iteration, ctx.index),
)


def sgd_pair(model, lr=0.05, momentum=0.5):
    return build_optimizers(
        model,
        dict(
            generator=dict(type='SGD', lr=lr, momentum=momentum),
            discriminator=dict(type='SGD', lr=lr, momentum=momentum),
        ),
    )


def run(model_type: str, train_cfg: dict, n: int, model=None, **kwargs) -> LegacyGANRunner:
    model = model or ToyGAN()
    runner = LegacyGANRunner(model_type, model, sgd_pair(model), train_cfg, CALLBACKS, **kwargs)
    runner.run(n)
    return runner


def flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


# -- StaticUnconditionalGAN / MSPIEStyleGAN2 ------------------------------------------------------
def test_static_d_every_iteration_g_every_disc_steps() -> None:
    steps = step_iterations(run('StaticUnconditionalGAN', dict(disc_steps=3), 9).events)
    assert steps == {'discriminator': list(range(9)), 'generator': [2, 5, 8]}


def test_static_ignores_gen_steps_and_batch_accumulation() -> None:
    a = run('StaticUnconditionalGAN', dict(disc_steps=3, gen_steps=2, batch_accumulation_steps=4),
            12)
    b = run('StaticUnconditionalGAN', dict(disc_steps=3), 12)
    assert optimizer_actions(a.events) == optimizer_actions(b.events)
    assert torch.equal(flat(a.model), flat(b.model))
    mspie = run('MSPIEStyleGAN2', dict(disc_steps=3), 12)
    assert optimizer_actions(mspie.events) == optimizer_actions(b.events)


def test_static_matches_plain_loop() -> None:
    runner = run('StaticUnconditionalGAN', dict(disc_steps=2), 6)
    model = ToyGAN()
    opts = sgd_pair(model)
    for i in range(6):
        opts['discriminator'].zero_grad()
        disc_loss_of(model, i).backward()
        opts['discriminator'].step()
        if (i + 1) % 2 == 0:
            opts['generator'].zero_grad()
            g_params = list(model.generator.parameters())
            g_grads = torch.autograd.grad(gen_loss_of(model, i), g_params)
            for p, g in zip(g_params, g_grads, strict=True):
                p.grad = g
            opts['generator'].step()
    assert torch.allclose(flat(runner.model), flat(model), atol=1e-12)


# -- BasicConditionalGAN ----
def test_basiccgan_k12_s1_b8_update_iterations() -> None:
    runner = run('BasiccGAN', dict(disc_steps=12, gen_steps=1, batch_accumulation_steps=8), 48)
    steps = step_iterations(runner.events)
    assert steps['generator'] == [11, 23, 35, 47]
    assert steps['discriminator'] == [7, 15, 23, 31, 39, 47]
    d_zero = [e.iteration for e in runner.events
              if e.module == 'discriminator' and e.action == 'zero_grad']
    assert d_zero == [0, 8, 16, 24, 32, 40]
    backwards = [e for e in runner.events if e.action == 'backward']
    assert {e.info['divisor'] for e in backwards} == {8.0}
    # each G round: 8 micro-batches (fresh noise) before one step
    assert sum(1 for e in backwards if e.module == 'generator') == 4 * 8


def test_basiccgan_tail_window_is_never_applied() -> None:
    runner = run('BasiccGAN', dict(disc_steps=8, batch_accumulation_steps=8), 37)
    assert step_iterations(runner.events)['discriminator'] == [7, 15, 23, 31]
    d_grad = runner.model.discriminator.weight.grad
    assert d_grad is not None and d_grad.abs().sum() > 0  # accumulated 32..36, never stepped


def test_basiccgan_gen_steps_repeat_g_rounds() -> None:
    runner = run('BasicConditionalGAN',
                 dict(disc_steps=16, gen_steps=2, batch_accumulation_steps=8), 32)
    steps = step_iterations(runner.events)
    assert steps['generator'] == [15, 15, 31, 31]
    assert steps['discriminator'] == [7, 15, 23, 31]


def test_basiccgan_loss_division_matches_plain_mean_of_gradients() -> None:
    # K=2, B=4: G rounds fire while D holds a partial accumulation (iterations 1 and 5); the
    # frozen D must not pick up gradient from the G phase.
    k, acc, n = 2, 4, 8
    runner = run('BasiccGAN', dict(disc_steps=k, batch_accumulation_steps=acc), n)
    model = ToyGAN()
    opts = sgd_pair(model)
    d_params, g_params = list(model.discriminator.parameters()), list(model.generator.parameters())
    d_sum = [torch.zeros_like(p) for p in d_params]
    for i in range(n):
        for s, g in zip(d_sum, torch.autograd.grad(disc_loss_of(model, i), d_params), strict=True):
            s += g
        if (i + 1) % acc == 0:
            for p, s in zip(d_params, d_sum, strict=True):
                p.grad = s / acc  # mean of the window's gradients
                s.zero_()
            opts['discriminator'].step()
        if (i + 1) % k == 0:
            grads = [torch.zeros_like(p) for p in g_params]
            for micro in range(acc):
                for t, g in zip(grads, torch.autograd.grad(gen_loss_of(model, i, micro), g_params),
                                strict=True):
                    t += g
            for p, t in zip(g_params, grads, strict=True):
                p.grad = t / acc
            opts['generator'].step()
    assert torch.allclose(flat(runner.model.discriminator), flat(model.discriminator), atol=1e-12)
    assert torch.allclose(flat(runner.model.generator), flat(model.generator), atol=1e-12)


# -- translation models ----
def _translation_callbacks(calls: list) -> GANCallbacks:
    def forward(ctx):
        calls.append(('forward', ctx.iteration))
        x = _randn(30_000 + ctx.iteration, 4, 3)
        return ctx.model.generators['a'](x)

    def disc(ctx):
        calls.append(('disc', ctx.iteration))
        d = ctx.model.discriminators['a']
        fake = ctx.outputs.detach()
        return F.softplus(d(fake)).mean() + F.softplus(-d(real(ctx.iteration))).mean()

    def gen(ctx):
        calls.append(('gen', ctx.iteration))
        return F.softplus(-ctx.model.discriminators['a'](ctx.outputs)).mean()

    return GANCallbacks(disc_loss=disc, gen_loss=gen, forward=forward)


def _run_translation(model_type: str, train_cfg: dict, n: int, calls: list) -> LegacyGANRunner:
    model = ToyTranslation()
    opts = build_optimizers(
        model,
        dict(generators=dict(type='Adam', lr=1e-3), discriminators=dict(type='Adam', lr=1e-3)),
    )
    runner = LegacyGANRunner(model_type, model, opts, train_cfg, _translation_callbacks(calls))
    runner.run(n)
    return runner


def test_translation_g_phase_has_no_plus_one() -> None:
    calls: list = []
    runner = _run_translation('CycleGAN', dict(disc_steps=3), 10, calls)
    steps = step_iterations(runner.events)
    assert steps == {'discriminators': list(range(10)), 'generators': [0, 3, 6, 9]}
    assert calls[:3] == [('forward', 0), ('disc', 0), ('gen', 0)]  # G forward comes first


def test_translation_disc_init_steps() -> None:
    runner = _run_translation('Pix2Pix', dict(disc_steps=3, disc_init_steps=4), 10, [])
    assert step_iterations(runner.events)['generators'] == [6, 9]


# -- SinGAN ----
class ToySinGAN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.generator = nn.Module()
        self.generator.blocks = nn.ModuleList(nn.Linear(2, 3).double() for _ in range(3))
        self.discriminator = nn.Module()
        self.discriminator.blocks = nn.ModuleList(nn.Linear(3, 1).double() for _ in range(3))


def test_singan_stages_steps_and_schedulers() -> None:
    stages_seen = []

    def disc(ctx):
        d = ctx.model.discriminator.blocks[ctx.stage]
        with torch.no_grad():
            fake = ctx.model.generator.blocks[ctx.stage](noise(ctx.iteration, 'd', ctx.index))
        return F.softplus(d(fake)).mean() + F.softplus(-d(real(ctx.iteration))).mean()

    def gen(ctx):
        g, d = ctx.model.generator.blocks[ctx.stage], ctx.model.discriminator.blocks[ctx.stage]
        return F.softplus(-d(g(noise(ctx.iteration, 'g', ctx.index)))).mean()

    model = ToySinGAN()
    cfg = dict(iters_per_scale=3, disc_steps=2, generator_steps=3, lr_g=5e-4, lr_d=4e-4,
               lr_scheduler_args=dict(milestones=[2], gamma=0.1))
    runner = LegacyGANRunner(
        'SinGAN', model, None, cfg,
        GANCallbacks(disc, gen, new_stage=lambda ctx: stages_seen.append(ctx.stage)),
    )
    runner.run(6)
    builds = [(e.iteration, e.module, e.info['lr']) for e in runner.events if e.action == 'build']
    assert builds == [(0, 'generator', 5e-4), (0, 'discriminator', 4e-4),
                      (3, 'generator', 5e-4), (3, 'discriminator', 4e-4)]
    assert stages_seen == [0, 1]
    steps = step_iterations(runner.events)
    assert steps['discriminator'] == [i for i in range(6) for _ in range(2)]
    assert steps['generator'] == [i for i in range(6) for _ in range(3)]
    # optimizers hold only the current stage's block, Adam(betas=(0.5, 0.999))
    g_opt = runner.optimizers['generator']
    assert g_opt.param_groups[0]['params'][0] is model.generator.blocks[1].weight
    assert g_opt.param_groups[0]['betas'] == (0.5, 0.999)
    assert g_opt.param_groups[0]['lr'] == pytest.approx(5e-5)  # stepped past milestone 2
    assert torch.equal(flat(model.generator.blocks[2]), flat(ToySinGAN().generator.blocks[2]))
    with pytest.raises(ValueError):
        LegacyGANRunner('SinGAN', model, sgd_pair(ToyGAN()), cfg, CALLBACKS)


# -- ProgressiveGrowingGAN ----
def _pggan_cfg(**overrides) -> dict:
    cfg = dict(
        nkimgs_per_scale={'4': 0.01, '8': 0.02, '16': 1},
        disc_steps=2,
        optimizer_cfg=dict(generator=dict(type='Adam', lr=0.01, betas=(0.0, 0.99)),
                           discriminator=dict(type='Adam', lr=0.01, betas=(0.0, 0.99))),
        g_lr_base=0.001,
        d_lr_base=0.002,
        g_lr_schedule={'16': 0.005},
    )
    cfg.update(overrides)
    return cfg


def test_pggan_stage_changes_rebuild_optimizers_with_scale_lr() -> None:
    model = ToyGAN()
    runner = LegacyGANRunner('PGGAN', model, None, _pggan_cfg(), CALLBACKS, batch_size=4)
    runner.run(10)
    builds = [(e.iteration, e.module, e.info['lr']) for e in runner.events if e.action == 'build']
    # shown_nkimg grows by 0.004 per iteration: stage 1 at i=3 (0.012), stage 2 at i=8 (0.032)
    assert builds == [
        (0, 'generator', 0.01), (0, 'discriminator', 0.01),  # first stage: optimizer_cfg lr
        (3, 'generator', 0.001), (3, 'discriminator', 0.002),  # no '8' entry: lr_base
        (8, 'generator', 0.005), (8, 'discriminator', 0.002),
    ]
    steps = step_iterations(runner.events)
    assert steps == {'discriminator': list(range(10)), 'generator': [1, 3, 5, 7, 9]}
    assert runner.optimizers['generator'].param_groups[0]['lr'] == 0.005


def test_pggan_without_reset_keeps_first_optimizers() -> None:
    runner = LegacyGANRunner('StyleGANV1', ToyGAN(), None,
                             _pggan_cfg(reset_optim_for_new_scale=False), CALLBACKS, batch_size=4)
    first = dict(runner.optimizers)
    runner.run(10)
    assert runner.optimizers == first
    assert sum(e.action == 'build' for e in runner.events) == 2
    assert runner.curr_stage == 2


def test_pggan_requires_batch_size_and_no_runner_optimizers() -> None:
    with pytest.raises(ValueError):
        LegacyGANRunner('PGGAN', ToyGAN(), sgd_pair(ToyGAN()), _pggan_cfg(), CALLBACKS)
    runner = LegacyGANRunner('PGGAN', ToyGAN(), None, _pggan_cfg(), CALLBACKS)
    with pytest.raises(ValueError, match='batch_size'):
        runner.train_step()


# -- counters, registry aliases -------------------------------------------------------------------
def test_without_training_status_the_phase_restarts_after_resume() -> None:
    runner = run('StaticUnconditionalGAN', dict(disc_steps=3), 6,
                 pass_training_status=False, start_iter=5)
    # the model counts from 0 again: G at its own 2 and 5 = runner iterations 7 and 10
    assert step_iterations(runner.events)['generator'] == [7, 10]
    with_status = run('StaticUnconditionalGAN', dict(disc_steps=3), 6, start_iter=5)
    assert step_iterations(with_status.events)['generator'] == [5, 8]


def test_aliases_and_unknown_types() -> None:
    assert resolve_gan_kind('BasiccGAN') == resolve_gan_kind('BasicConditionalGAN') == 'basic'
    assert resolve_gan_kind('StyleGANV1') == resolve_gan_kind('PGGAN') == 'pggan'
    with pytest.raises(ValueError):
        resolve_gan_kind('StyleGAN2')  # configs use StaticUnconditionalGAN for it


# -- fp16 loss_scaler path ------------------------------------------------------------------------
def test_static_loss_scaler_shares_one_scale_and_updates_once_per_step() -> None:
    scaled = run('StaticUnconditionalGAN', dict(disc_steps=2), 6,
                 model=ToyGAN(dtype=torch.float32),
                 loss_scaler=torch.amp.GradScaler('cpu', init_scale=256.0, growth_interval=1),
                 autocast=False)
    plain = run('StaticUnconditionalGAN', dict(disc_steps=2), 6, model=ToyGAN(dtype=torch.float32))
    updates = [e for e in scaled.events if e.action == 'scaler_update']
    assert [e.iteration for e in updates] == list(range(6))
    assert [e.info['scale'] for e in updates] == [512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0]
    assert optimizer_actions(scaled.events) == optimizer_actions(plain.events)
    # power-of-two scaling and unscaling is exact: same parameters as without a scaler
    assert torch.allclose(flat(scaled.model), flat(plain.model), atol=1e-6)


def test_loss_scaler_callbacks_run_under_autocast_by_default() -> None:
    dtypes = []

    def gen(ctx):
        out = ctx.model.generator(noise(ctx.iteration, 'g', 0, torch.float32))
        dtypes.append(out.dtype)
        return F.softplus(-ctx.model.discriminator(out)).mean().float()

    model = ToyGAN(dtype=torch.float32)
    runner = LegacyGANRunner(
        'StaticUnconditionalGAN', model, sgd_pair(model), {},
        GANCallbacks(lambda ctx: disc_loss_of(ctx.model, ctx.iteration), gen),
        loss_scaler=torch.amp.GradScaler('cpu'),
    )
    runner.run(1)
    assert dtypes == [torch.bfloat16]


def test_basiccgan_accumulation_with_loss_scaler_fails_like_0x() -> None:
    # no optimizer stepped in the first train_step, so the runner's scaler.update() has no
    # inf checks to use: torch asserts (on a GPU 0.x failed the same way)
    model = ToyGAN(dtype=torch.float32)
    runner = LegacyGANRunner('BasiccGAN', model, sgd_pair(model),
                             dict(disc_steps=2, batch_accumulation_steps=2), CALLBACKS,
                             loss_scaler=torch.amp.GradScaler('cpu'), autocast=False)
    with pytest.raises(AssertionError, match='No inf checks'):
        runner.train_step()


def test_basiccgan_two_gen_steps_with_loss_scaler_fail_like_0x() -> None:
    model = ToyGAN(dtype=torch.float32)
    runner = LegacyGANRunner('BasiccGAN', model, sgd_pair(model), dict(gen_steps=2), CALLBACKS,
                             loss_scaler=torch.amp.GradScaler('cpu'), autocast=False)
    with pytest.raises(RuntimeError, match='unscale_'):
        runner.train_step()


@pytest.mark.parametrize('model_type', ['MSPIEStyleGAN2', 'CycleGAN', 'PGGAN', 'SinGAN'])
def test_loss_scaler_rejected_where_train_step_has_no_such_argument(model_type) -> None:
    with pytest.raises(TypeError, match='loss_scaler'):
        LegacyGANRunner(model_type, ToyGAN(), None, {}, CALLBACKS,
                        loss_scaler=torch.amp.GradScaler('cpu'))


@pytest.mark.cuda
def test_basiccgan_fp16_on_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip('needs CUDA')

    model = ToyGAN(dtype=torch.float32).cuda()

    def disc(ctx):
        with torch.no_grad():
            fake = ctx.model.generator(noise(ctx.iteration, 'd', 0, torch.float32).cuda())
        d = ctx.model.discriminator
        return (F.softplus(d(fake)).mean()
                + F.softplus(-d(real(ctx.iteration, torch.float32).cuda())).mean())

    def gen(ctx):
        out = ctx.model.generator(noise(ctx.iteration, 'g', ctx.index, torch.float32).cuda())
        assert out.dtype == torch.float16
        return F.softplus(-ctx.model.discriminator(out)).mean()

    runner = LegacyGANRunner('BasiccGAN', model, sgd_pair(model), dict(disc_steps=2),
                             GANCallbacks(disc, gen),
                             loss_scaler=torch.amp.GradScaler('cuda', init_scale=1024.0))
    runner.run(4)
    assert step_iterations(runner.events) == {'discriminator': [0, 1, 2, 3], 'generator': [1, 3]}


# -- EMA hook ----
class EmaModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.generator = nn.Linear(2, 2).double()
        self.generator.register_buffer('count', torch.zeros(1, dtype=DTYPE))
        self.generator_ema = copy.deepcopy(self.generator)


class _Runner:
    def __init__(self, model) -> None:
        self.model, self.iter = model, 0


def test_ema_copies_before_start_then_lerps_with_m_on_the_ema_copy() -> None:
    model = EmaModel()
    hook = ExponentialMovingAverageHook('generator_ema', interval=1, start_iter=2,
                                        interp_cfg=dict(momentum=0.9))
    runner = _Runner(model)
    expected = model.generator_ema.weight.detach().clone()
    for i in range(5):
        runner.iter = i
        with torch.no_grad():
            model.generator.weight.add_(0.1 * (i + 1))
            model.generator.count += 1
        hook.after_train_iter(runner)
        orig = model.generator.weight.detach()
        expected = orig.clone() if i < 2 else orig + (expected - orig) * 0.9
        assert torch.allclose(model.generator_ema.weight, expected, atol=1e-12)
        # buffers: momentum_nontrainable defaults to 0 -> copied from the original
        assert torch.equal(model.generator_ema.count, model.generator.count)


def test_ema_interval_counts_runner_iterations() -> None:
    model = EmaModel()
    hook = ExponentialMovingAverageHook(('generator_ema',), interval=3,
                                        interp_cfg=dict(momentum=0.5))
    runner = _Runner(model)
    acted = []
    for i in range(9):
        runner.iter = i
        with torch.no_grad():
            model.generator.weight.add_(1.0)
        before = model.generator_ema.weight.detach().clone()
        hook.after_train_iter(runner)
        if not torch.equal(before, model.generator_ema.weight):
            acted.append(i)
    assert acted == [2, 5, 8]
    assert ExponentialMovingAverageHook('generator_ema').every_n_iters(runner, -1) is False


def test_ema_rampup_and_validation() -> None:
    runner = _Runner(EmaModel())
    runner.iter = 9
    out = ExponentialMovingAverageHook.rampup(runner, ema_kimg=10, ema_rampup=0.05, batch_size=4)
    assert out['momentum'] == pytest.approx(0.5 ** (4 / (10 * 4 * 0.05)))
    with pytest.raises(AssertionError):
        ExponentialMovingAverageHook('generator')  # keys must end with _ema
    model = nn.Module()
    model.generator = nn.Linear(1, 1)
    hook = ExponentialMovingAverageHook('generator_ema')
    with pytest.warns(UserWarning):
        hook.before_run(_Runner(model))
    assert isinstance(model.generator_ema, nn.Linear)


def test_ema_as_gan_runner_hook() -> None:
    model = ToyGAN()
    model.generator_ema = copy.deepcopy(model.generator)
    hook = ExponentialMovingAverageHook('generator_ema', interval=1,
                                        interp_cfg=dict(momentum=0.0))
    runner = LegacyGANRunner('StaticUnconditionalGAN', model, sgd_pair(model), {}, CALLBACKS,
                             hooks=[hook])
    runner.run(2)
    assert torch.equal(flat(model.generator_ema), flat(model.generator))
