"""MMGeneration 0.7.3 GAN ``train_step`` schedules, re-implemented with an event log (docs/gan.md).

In 0.x the GAN models stepped their own optimizers inside ``train_step`` (no optimizer hook). What
matters for a migration is *which optimizer is zeroed / backpropagated / stepped when*, and by how
much each loss is divided. :class:`LegacyGANRunner` reproduces that sequence for each model class
on a caller's toy model and records every action as a :class:`GANEvent`, so a 1.x run can be
compared with it ("which optimizer updates when").

Per class (``mmgen==0.7.3``; file/function cited in each ``_step_*`` method):

* ``StaticUnconditionalGAN`` / ``MSPIEStyleGAN2``: one D update per call; one G update when
  ``(curr_iter + 1) % disc_steps == 0``. No loss division.
* ``BasicConditionalGAN`` (``'BasiccGAN'``): ``B = batch_accumulation_steps``,
  ``K = disc_steps``, ``S = gen_steps``. D zeroed iff ``curr_iter % B == 0``, D loss ``/ B``,
  D stepped iff ``(curr_iter + 1) % B == 0``; on ``(curr_iter + 1) % K == 0``, ``S`` G rounds of
  ``B`` micro-batches (each loss ``/ B``) then one G step.
* ``ProgressiveGrowingGAN`` (``'PGGAN'``, ``'StyleGANV1'``): schedule as Static; optimizers are
  built from ``train_cfg['optimizer_cfg']`` and rebuilt at each new stage with
  ``lr = g_lr_schedule.get(str(scale), g_lr_base)`` (same for D) when
  ``reset_optim_for_new_scale``; stages follow ``shown_nkimg`` (float32, ``+= batch/1000`` after
  each D step).
* ``SinGAN`` / ``PESinGAN``: at ``curr_iter % iters_per_scale == 0`` a new stage, new
  ``Adam(betas=(0.5, 0.999))`` on that stage's ``blocks`` and ``MultiStepLR``; then
  ``disc_steps`` D updates and ``generator_steps`` G updates every call; both schedulers step.
* ``CycleGAN`` / ``Pix2Pix``: G forward first, D update every call, G update iff
  ``curr_iter % disc_steps == 0 and curr_iter >= disc_init_steps`` (no ``+1``); optimizer keys
  ``generators`` / ``discriminators``.

fp16 (``loss_scaler``): only Static and BasiccGAN accept it (the others raise ``TypeError`` like
their ``train_step`` signatures did). Losses go through ``scaler.scale(loss).backward()``; at
update points ``unscale_`` then ``scaler.step``; the runner calls ``scaler.update()`` once per
``train_step`` — one scale shared by D and G (``dynamic_iterbased_runner.py :: train``). Torch's
own checks therefore fire as they did in 0.x on a GPU: a ``train_step`` in which no optimizer
stepped (e.g. BasiccGAN with ``B > 1``) fails in ``update()`` ("No inf checks were recorded"),
and ``gen_steps > 1`` fails on the second ``unscale_`` of the same optimizer. With a scaler the
loss callbacks run under ``torch.autocast`` by default (our whole-callback scope; 0.x autocast
was limited to ``@auto_fp16`` methods).

Loss callbacks compute the *undivided* loss of one forward (the runner applies the divisions);
a D callback should produce its fakes under ``torch.no_grad()``/``detach()`` as 0.x did.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .constructor import build_optimizers

MODEL_KINDS: dict[str, str] = {
    'StaticUnconditionalGAN': 'static',
    'MSPIEStyleGAN2': 'static',
    'BasicConditionalGAN': 'basic',
    'BasiccGAN': 'basic',
    'ProgressiveGrowingGAN': 'pggan',
    'PGGAN': 'pggan',
    'StyleGANV1': 'pggan',
    'SinGAN': 'singan',
    'PESinGAN': 'singan',
    'CycleGAN': 'translation',
    'Pix2Pix': 'translation',
}
# Classes whose train_step has a ``loss_scaler`` parameter in 0.7.3.
_SCALER_CLASSES = frozenset({'StaticUnconditionalGAN', 'BasicConditionalGAN', 'BasiccGAN'})


@dataclass
class GANEvent:
    """One optimizer action: ``action`` is ``build``, ``zero_grad``, ``backward``, ``step``,
    ``scheduler_step`` or ``scaler_update``; ``module`` the optimizer key (``''`` for the
    scaler); ``iteration`` the runner's global iteration, ``curr_iter`` the counter the model's
    schedule used; ``index`` the sub-step (D step / G micro-batch) within the call; ``info``
    extras (``divisor`` of a backward, ``lr`` of a build, ``skipped`` of an fp16 step).
    """

    iteration: int
    curr_iter: int
    module: str
    action: str
    index: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class GANStepContext:
    """What a loss callback is told: ``phase`` (``'forward'``, ``'disc'``, ``'gen'`` or
    ``'new_stage'``), ``iteration`` (the model's ``curr_iter``), ``runner_iter``, ``index`` of the
    D step / G micro-batch in this call, ``stage`` (PGGAN/SinGAN), ``outputs`` (translation:
    what ``forward`` returned) and ``info`` (e.g. PGGAN ``shown_nkimg`` and ``scale``).
    """

    model: nn.Module
    phase: str
    iteration: int
    runner_iter: int
    index: int = 0
    stage: int | None = None
    outputs: Any = None
    info: dict[str, Any] = field(default_factory=dict)


LossFn = Callable[[GANStepContext], torch.Tensor]


@dataclass
class GANCallbacks:
    """The caller's deterministic model pieces: ``disc_loss``/``gen_loss`` return one undivided
    loss; ``forward`` (translation models) runs the generators first and returns their outputs;
    ``new_stage`` (SinGAN) runs when a scale starts, before its optimizers are built.
    """

    disc_loss: LossFn
    gen_loss: LossFn
    forward: Callable[[GANStepContext], Any] | None = None
    new_stage: Callable[[GANStepContext], None] | None = None


def set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    """mmgen's ``set_requires_grad``: set ``requires_grad`` on *every* parameter of ``module``."""
    if module is None:
        return
    for param in module.parameters():
        param.requires_grad = flag


def resolve_gan_kind(model_type: str) -> str:
    """Schedule family of a 0.x model type (registry aliases accepted)."""
    try:
        return MODEL_KINDS[model_type]
    except KeyError:
        raise ValueError(
            f'no 0.x train_step schedule for model type {model_type!r}; '
            f'known: {sorted(MODEL_KINDS)}'
        ) from None


class LegacyGANRunner:
    """Runs 0.x GAN ``train_step`` schedules on a toy model and logs every optimizer action.

    ``model`` must have ``generator``/``discriminator`` (translation: ``generators``/
    ``discriminators``; SinGAN: each with a ``blocks`` ModuleList). ``optimizers`` is the dict
    built from the 0.x ``optimizer`` config (e.g. by
    :func:`~migrate_optim.runtime.legacy.constructor.build_optimizers`); it must be ``None``
    for PGGAN/SinGAN, which build their own. ``pass_training_status`` mirrors
    ``DynamicIterBasedRunner(pass_training_status=True)`` (schedule on the global iteration); when
    False the model counts its own calls from 0, as after a resume in 0.x. ``batch_size`` is the
    global batch size PGGAN adds to ``shown_nkimg``. ``hooks`` get ``before_run`` and
    ``after_train_iter(runner)`` (e.g. the EMA hook), after the scaler update, as in mmgen.
    """

    def __init__(
        self,
        model_type: str,
        model: nn.Module,
        optimizers: Mapping[str, torch.optim.Optimizer] | None,
        train_cfg: Mapping[str, Any] | None,
        callbacks: GANCallbacks,
        *,
        loss_scaler: torch.amp.GradScaler | None = None,
        pass_training_status: bool = True,
        start_iter: int = 0,
        batch_size: int | None = None,
        autocast: bool | None = None,
        autocast_dtype: torch.dtype | None = None,
        hooks: Iterable[Any] = (),
    ) -> None:
        self.model_type = model_type
        self.kind = resolve_gan_kind(model_type)
        if loss_scaler is not None and model_type not in _SCALER_CLASSES:
            raise TypeError(
                f"{model_type}.train_step() got an unexpected keyword argument 'loss_scaler'"
            )
        self.model = model
        self.train_cfg: dict[str, Any] = dict(train_cfg or {})
        self.callbacks = callbacks
        self.loss_scaler = loss_scaler
        self.pass_training_status = pass_training_status
        self.iter = start_iter
        self._model_iteration = 0
        self.batch_size = batch_size
        self.autocast = (loss_scaler is not None) if autocast is None else autocast
        self.autocast_dtype = autocast_dtype
        self.hooks = list(hooks)
        self.events: list[GANEvent] = []
        self._started = False
        self._curr_iter = 0
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        if self.kind in ('pggan', 'singan'):
            if optimizers:
                raise ValueError(
                    f'{model_type} builds its own optimizers; the runner must get none '
                    '(0.x asserted that runner and model do not both hold optimizers)'
                )
        elif optimizers is None:
            raise ValueError(f'{model_type} needs the optimizer dict')
        else:
            self.optimizers = dict(optimizers)
        self._parse_train_cfg()

    # -- configuration -------------------------------------------------------------------------
    def _parse_train_cfg(self) -> None:
        cfg = self.train_cfg
        self.disc_steps = cfg.get('disc_steps', 1)
        if self.kind == 'basic':
            self.gen_steps = cfg.get('gen_steps', 1)
            self.batch_accumulation_steps = cfg.get('batch_accumulation_steps', 1)
        elif self.kind == 'translation':
            self.disc_init_steps = cfg.get('disc_init_steps', 0)
        elif self.kind == 'pggan':
            self._parse_pggan()
        elif self.kind == 'singan':
            self.curr_stage = -1

    def _parse_pggan(self) -> None:
        # progressive_growing_unconditional_gan.py :: _parse_train_cfg (l.119-180)
        cfg = self.train_cfg
        nkimgs_per_scale = cfg['nkimgs_per_scale']
        if not isinstance(nkimgs_per_scale, Mapping):
            raise AssertionError('Please provide "nkimgs_per_scale" to schedule the training.')
        self.scales: list[tuple[int, int]] = []
        nkimgs: list[float] = []
        for key, value in nkimgs_per_scale.items():
            if isinstance(key, str):
                scale = (int(key), int(key))
            elif isinstance(key, int):
                scale = (key, key)
            else:
                scale = tuple(key)
            if self.scales and scale[0] <= self.scales[-1][0]:
                raise AssertionError('scales in nkimgs_per_scale must increase')
            self.scales.append(scale)
            nkimgs.append(value)
        self.cum_nkimgs = list(itertools.accumulate(nkimgs))
        self.curr_stage = 0
        self.prev_stage = cfg.get('prev_stage', 0)
        self.shown_nkimg = torch.tensor(0.0)
        self._actual_nkimgs: list[float] = []
        self.g_lr_base = cfg['g_lr_base']
        self.d_lr_base = cfg['d_lr_base']
        self.g_lr_schedule = dict(cfg.get('g_lr_schedule') or {})
        self.d_lr_schedule = dict(cfg.get('d_lr_schedule') or {})
        self.reset_optim_for_new_scale = cfg.get('reset_optim_for_new_scale', True)
        self._build_pggan_optimizers(copy.deepcopy(cfg['optimizer_cfg']), iteration=self.iter)

    def _build_pggan_optimizers(self, optim_cfg: dict, iteration: int) -> None:
        built = build_optimizers(self.model, optim_cfg)
        if not isinstance(built, dict):
            raise TypeError('PGGAN optimizer_cfg must be a dict of per-module optimizer dicts')
        self.optimizers = built
        for key, opt in built.items():
            self._log(key, 'build', info={'lr': opt.param_groups[0]['lr']}, iteration=iteration)

    # -- small helpers -------------------------------------------------------------------------
    def _log(
        self,
        module: str,
        action: str,
        index: int = 0,
        info: dict | None = None,
        iteration: int | None = None,
    ) -> None:
        self.events.append(
            GANEvent(
                iteration=self.iter if iteration is None else iteration,
                curr_iter=self._curr_iter,
                module=module,
                action=action,
                index=index,
                info=info or {},
            )
        )

    def _ctx(self, phase: str, index: int = 0, **kwargs: Any) -> GANStepContext:
        return GANStepContext(
            model=self.model,
            phase=phase,
            iteration=self._curr_iter,
            runner_iter=self.iter,
            index=index,
            **kwargs,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.autocast:
            return contextlib.nullcontext()
        device = next(self.model.parameters()).device.type
        dtype = self.autocast_dtype or (torch.float16 if device == 'cuda' else torch.bfloat16)
        return torch.autocast(device, dtype=dtype)

    def _loss(self, fn: LossFn, ctx: GANStepContext) -> torch.Tensor:
        with self._autocast():
            return fn(ctx)

    def _zero_grad(self, key: str, index: int = 0) -> None:
        self.optimizers[key].zero_grad()
        self._log(key, 'zero_grad', index)

    def _backward(self, key: str, loss: torch.Tensor, index: int = 0, divisor: float = 1.0):
        if self.loss_scaler is not None:
            self.loss_scaler.scale(loss).backward()
        else:
            loss.backward()
        self._log(key, 'backward', index, {'divisor': divisor, 'loss': float(loss.detach())})

    def _step(self, key: str, index: int = 0) -> None:
        opt = self.optimizers[key]
        info: dict[str, Any] = {}
        if self.loss_scaler is not None:
            self.loss_scaler.unscale_(opt)
            self.loss_scaler.step(opt)
            state = getattr(self.loss_scaler, '_per_optimizer_states', {}).get(id(opt), {})
            found = state.get('found_inf_per_device', {})
            info['skipped'] = bool(sum(float(v) for v in found.values()))
        else:
            opt.step()
        self._log(key, 'step', index, info)

    # -- the loop ------------------------------------------------------------------------------
    def train_step(self) -> None:
        """One runner iteration: the model's ``train_step``, scaler update, hooks, ``iter += 1``."""
        if not self._started:
            self._started = True
            for hook in self.hooks:
                before = getattr(hook, 'before_run', None)
                if before is not None:
                    before(self)
        self._curr_iter = self.iter if self.pass_training_status else self._model_iteration
        getattr(self, f'_step_{self.kind}')()
        if not self.pass_training_status:
            self._model_iteration += 1
        if self.loss_scaler is not None:
            self.loss_scaler.update()
            self._log('', 'scaler_update', info={'scale': float(self.loss_scaler.get_scale())})
        for hook in self.hooks:
            after = getattr(hook, 'after_train_iter', None)
            if after is not None:
                after(self)
        self.iter += 1

    def run(self, num_iters: int) -> list[GANEvent]:
        """Run ``num_iters`` iterations; return the whole event log."""
        for _ in range(num_iters):
            self.train_step()
        return self.events

    # -- per-class train_step bodies -----------------------------------------------------------
    def _step_static(self) -> None:
        # static_unconditional_gan.py :: train_step (l.166-309), mspie_stylegan2.py (l.123-209)
        cb, curr = self.callbacks, self._curr_iter
        set_requires_grad(self.model.discriminator, True)
        self._zero_grad('discriminator')
        loss = self._loss(cb.disc_loss, self._ctx('disc'))
        self._backward('discriminator', loss)
        self._step('discriminator')
        if (curr + 1) % self.disc_steps != 0:
            return
        set_requires_grad(self.model.discriminator, False)
        self._zero_grad('generator')
        loss = self._loss(cb.gen_loss, self._ctx('gen'))
        self._backward('generator', loss)
        self._step('generator')

    def _step_basic(self) -> None:
        # basic_conditional_gan.py :: train_step (l.127-316)
        cb, curr = self.callbacks, self._curr_iter
        acc, k, s = self.batch_accumulation_steps, self.disc_steps, self.gen_steps
        set_requires_grad(self.model.discriminator, True)
        if curr % acc == 0:
            self._zero_grad('discriminator')
        loss = self._loss(cb.disc_loss, self._ctx('disc')) / float(acc)
        self._backward('discriminator', loss, divisor=float(acc))
        if (curr + 1) % acc == 0:
            self._step('discriminator')
        if (curr + 1) % k != 0:
            return
        set_requires_grad(self.model.discriminator, False)
        for round_idx in range(s):
            self._zero_grad('generator', round_idx)
            for micro in range(acc):
                index = round_idx * acc + micro
                loss = self._loss(cb.gen_loss, self._ctx('gen', index)) / float(acc)
                self._backward('generator', loss, index, divisor=float(acc))
            self._step('generator', round_idx)

    def _step_pggan(self) -> None:
        # progressive_growing_unconditional_gan.py :: train_step (l.262-488)
        if self.batch_size is None:
            raise ValueError('PGGAN needs batch_size (the global batch size) for shown_nkimg')
        cb, curr = self.callbacks, self._curr_iter
        shown = self.shown_nkimg.item()
        passed = sum(1 for c in self.cum_nkimgs if c <= shown)
        self.curr_stage = int(min(passed, len(self.scales) - 1))
        scale = self.scales[self.curr_stage]
        if self.curr_stage != self.prev_stage:
            self.prev_stage = self.curr_stage
            self._actual_nkimgs.append(shown)
            if self.reset_optim_for_new_scale:
                optim_cfg = copy.deepcopy(self.train_cfg['optimizer_cfg'])
                optim_cfg['generator']['lr'] = self.g_lr_schedule.get(
                    str(scale[0]), self.g_lr_base
                )
                optim_cfg['discriminator']['lr'] = self.d_lr_schedule.get(
                    str(scale[0]), self.d_lr_base
                )
                self._build_pggan_optimizers(optim_cfg, iteration=self.iter)
        info = {'scale': scale, 'shown_nkimg': shown}
        set_requires_grad(self.model.discriminator, True)
        self._zero_grad('discriminator')
        ctx = self._ctx('disc', stage=self.curr_stage, info=info)
        self._backward('discriminator', self._loss(cb.disc_loss, ctx))
        self._step('discriminator')
        self.shown_nkimg += self.batch_size / 1000.0
        if (curr + 1) % self.disc_steps != 0:
            return
        set_requires_grad(self.model.discriminator, False)
        self._zero_grad('generator')
        ctx = self._ctx('gen', stage=self.curr_stage, info=dict(info))
        self._backward('generator', self._loss(cb.gen_loss, ctx))
        self._step('generator')

    def _step_singan(self) -> None:
        # singan.py :: SinGAN.train_step (l.222-429)
        cb, curr, cfg = self.callbacks, self._curr_iter, self.train_cfg
        if curr % cfg['iters_per_scale'] == 0:
            self.curr_stage += 1
            if cb.new_stage is not None:
                cb.new_stage(self._ctx('new_stage', stage=self.curr_stage))
            g_block = self.model.generator.blocks[self.curr_stage]
            d_block = self.model.discriminator.blocks[self.curr_stage]
            g_opt = torch.optim.Adam(g_block.parameters(), lr=cfg['lr_g'], betas=(0.5, 0.999))
            d_opt = torch.optim.Adam(d_block.parameters(), lr=cfg['lr_d'], betas=(0.5, 0.999))
            self.optimizers = {'generator': g_opt, 'discriminator': d_opt}
            sched_args = cfg['lr_scheduler_args']
            self.schedulers = {
                'generator': torch.optim.lr_scheduler.MultiStepLR(optimizer=g_opt, **sched_args),
                'discriminator': torch.optim.lr_scheduler.MultiStepLR(
                    optimizer=d_opt, **sched_args
                ),
            }
            for key, opt in self.optimizers.items():
                self._log(key, 'build', info={'lr': opt.param_groups[0]['lr']})
        set_requires_grad(self.model.discriminator, True)
        for index in range(cfg['disc_steps']):
            self._zero_grad('discriminator', index)
            ctx = self._ctx('disc', index, stage=self.curr_stage)
            self._backward('discriminator', self._loss(cb.disc_loss, ctx), index)
            self._step('discriminator', index)
        set_requires_grad(self.model.discriminator, False)
        for index in range(cfg['generator_steps']):
            self._zero_grad('generator', index)
            ctx = self._ctx('gen', index, stage=self.curr_stage)
            self._backward('generator', self._loss(cb.gen_loss, ctx), index)
            self._step('generator', index)
        for key in ('discriminator', 'generator'):
            self.schedulers[key].step()
            self._log(key, 'scheduler_step')

    def _step_translation(self) -> None:
        # translation_models/cyclegan.py :: train_step (l.125-211), pix2pix.py (l.92-184)
        cb, curr = self.callbacks, self._curr_iter
        outputs = None
        if cb.forward is not None:
            with self._autocast():
                outputs = cb.forward(self._ctx('forward'))
        set_requires_grad(self.model.discriminators, True)
        self._zero_grad('discriminators')
        ctx = self._ctx('disc', outputs=outputs)
        self._backward('discriminators', self._loss(cb.disc_loss, ctx))
        self._step('discriminators')
        if curr % self.disc_steps == 0 and curr >= self.disc_init_steps:
            set_requires_grad(self.model.discriminators, False)
            self._zero_grad('generators')
            ctx = self._ctx('gen', outputs=outputs)
            self._backward('generators', self._loss(cb.gen_loss, ctx))
            self._step('generators')


def step_iterations(events: Sequence[GANEvent]) -> dict[str, list[int]]:
    """``{optimizer key: [runner iterations at which it stepped, one entry per step]}``."""
    out: dict[str, list[int]] = {}
    for event in events:
        if event.action == 'step':
            out.setdefault(event.module, []).append(event.iteration)
    return out


def optimizer_actions(events: Sequence[GANEvent]) -> list[tuple[int, str, str]]:
    """``(iteration, module, action)`` of every zero_grad/step, for sequence comparisons."""
    return [
        (e.iteration, e.module, e.action) for e in events if e.action in ('zero_grad', 'step')
    ]
