"""The 1.x side of ``verify``: train a 1.x config the way MMEngine's runner and MMagic's GANs do.

Single wrapper: ``build_optim_wrapper``, then MMEngine's loop: ``initialize_count_status(model,
0, N)`` once (``Runner.train``), and per iteration ``with optim_context(model): loss`` then
``update_params(loss)`` (``BaseModel.train_step``).

GAN configs (an ``OptimWrapperDict``): :class:`ModernGANSchedule` re-implements the optimizer
side of MMagic 1.2.0's ``train_step`` (docs/gan.md#the-mmagic-train_step):

* ``BaseGAN`` family: D ``update_params`` every iteration inside its ``optim_context``; a G round
  iff ``(i + 1) % (discriminator_steps * accD) == 0``: D frozen, the G wrapper's counter reset
  with ``initialize_count_status(G, 0, generator_steps * accG)``, ``generator_steps * accG``
  G ``update_params`` calls (inside ``optim_context`` except for StyleGAN2/3 and
  MSPIEStyleGAN2), D unfrozen. The runner's ``initialize_count_status`` on the dict is a no-op,
  so the D wrapper never gets a remainder window.
* ``CycleGAN``/``Pix2Pix``: D every iteration; G once iff
  ``(i + 1) % (discriminator_steps * accD) == 0 and i >= disc_init_steps``; the G wrapper is not
  re-initialised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import torch

from migrate_optim.runtime import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from migrate_optim.runtime.builder import build_optim_wrapper
from migrate_optim.runtime.legacy.gan import set_requires_grad
from migrate_optim.verify.models import ModelDriver
from migrate_optim.verify.plan import NewPlan, VerifyError
from migrate_optim.verify.trace import (
    ModuleSettings,
    SideTrace,
    StepClock,
    clip_spec,
    describe_optimizer,
    parameter_names,
    scaler_spec,
    snapshot,
)

__all__ = ["ModernGANSchedule", "ModernTrainer", "wrapper_settings"]


def wrapper_settings(wrapper: OptimWrapper, source: str = "") -> ModuleSettings:
    """Clipping, accumulation and loss scale of one built wrapper, normalised."""
    clip = None
    if wrapper.clip_grad_kwargs:
        kind = "norm" if wrapper.clip_func is torch.nn.utils.clip_grad_norm_ else "value"
        clip = clip_spec(kind, wrapper.clip_grad_kwargs)
    amp = None
    if isinstance(wrapper, AmpOptimWrapper):
        dtype = wrapper._autocast_dtype
        if dtype is None:
            dtype = torch.float16 if wrapper.device_type == "cuda" else torch.bfloat16
        amp = scaler_spec(wrapper.loss_scaler, wrapper._scale_update_param, dtype)
    return ModuleSettings(
        clip=clip,
        accumulation=int(wrapper._accumulative_counts),
        amp=amp,
        optimizer=type(wrapper.optimizer).__name__,
        source=source or type(wrapper).__name__,
    )


class ModernGANSchedule:
    """MMagic's GAN ``train_step`` optimizer schedule over an :class:`OptimWrapperDict`."""

    def __init__(self, plan: NewPlan, wrappers: OptimWrapperDict, driver: ModelDriver) -> None:
        self.plan = plan
        self.wrappers = wrappers
        self.driver = driver
        self.gkey, self.dkey = plan.module_keys
        self.ema: Any = None  # ModernEMA when model.ema_config is set
        self.ema_start = 0
        for key in plan.module_keys:
            if key not in wrappers:
                raise VerifyError(
                    f"NEW: {plan.model_type}.train_step uses optim_wrapper[{key!r}], but the "
                    f"wrappers are {sorted(wrappers.keys())}"
                )

    def _context(self, key: str) -> contextlib.AbstractContextManager:
        if not self.plan.optim_context:
            return contextlib.nullcontext()
        return self.wrappers[key].optim_context(self.driver.context_target(key))

    def train_step(self, i: int) -> None:
        """One iteration ``i`` (MessageHub's ``iter``, 0-based)."""
        driver, plan = self.driver, self.plan
        disc, gen = self.wrappers[self.dkey], self.wrappers[self.gkey]
        d_module = driver.model._modules[self.dkey]
        with self._context(self.dkey):
            loss = driver.module_loss(self.dkey, driver.batch(i))
        disc.update_params(loss)
        acc_d = disc._accumulative_counts
        if (i + 1) % (plan.discriminator_steps * acc_d) != 0:
            return
        if plan.family == "translation" and i < plan.disc_init_steps:
            return
        set_requires_grad(d_module, False)
        if plan.family == "translation":
            with self._context(self.gkey):
                loss = driver.module_loss(self.gkey, driver.gen_batch(i, 0))
            gen.update_params(loss)
        else:
            total = plan.generator_steps * gen._accumulative_counts
            gen.initialize_count_status(driver.model._modules[self.gkey], 0, total)
            for index in range(total):
                with self._context(self.gkey):
                    loss = driver.module_loss(self.gkey, driver.gen_batch(i, index))
                gen.update_params(loss)
        set_requires_grad(d_module, True)
        if self.ema is not None and plan.family == "basegan":
            # BaseGAN.train_step: only after a G round
            g_module = driver.model._modules[self.gkey]
            if (i + 1) >= self.ema_start * plan.discriminator_steps * acc_d:
                self.ema.update_parameters(g_module)
                if not self.ema.update_buffers:
                    self.ema.sync_buffers(g_module)
            else:
                self.ema.sync_parameters(g_module)


class _EditorSchedule:
    """MMagic editing models with their own ``train_step`` (TTSR): every wrapper updates once
    per iteration on its module's loss, inside its ``optim_context``."""

    def __init__(self, plan: NewPlan, wrappers: OptimWrapperDict, driver: ModelDriver) -> None:
        self.plan, self.wrappers, self.driver = plan, wrappers, driver
        self.ema: Any = None

    def train_step(self, i: int) -> None:
        """One iteration ``i``."""
        batch = self.driver.batch(i)
        for key in self.wrappers.keys():
            wrapper = self.wrappers[key]
            with wrapper.optim_context(self.driver.context_target(key)):
                loss = self.driver.module_loss(key, batch)
            wrapper.update_params(loss)


class ModernTrainer:
    """Builds the 1.x optimizer wrapper(s) for ``cfg`` and trains ``driver``'s model."""

    label = "1.x"

    def __init__(self, cfg: Mapping[str, Any], plan: NewPlan, driver: ModelDriver) -> None:
        self.cfg = cfg
        self.plan = plan
        self.driver = driver
        self.clock = StepClock()
        # Writes the scheduled lr/momentum of iteration i (set by verify's schedule driver).
        self.before_iteration: Callable[[int], None] | None = None
        model = driver.model
        self.trace, self._frozen = SideTrace.start(self.label, model, plan.notes)
        try:
            self.wrapper = build_optim_wrapper(model, cfg["optim_wrapper"])
        except Exception as exc:  # noqa: BLE001 - any build failure of the 1.x config
            raise VerifyError(f"NEW: cannot build optim_wrapper: {_brief(exc)}") from exc
        names = parameter_names(model)
        if isinstance(self.wrapper, OptimWrapperDict):
            if plan.kind not in ("gan", "restorer"):
                raise VerifyError("NEW: optim_wrapper built a dict of wrappers for a non-GAN model")
            self.schedule = (
                ModernGANSchedule(plan, self.wrapper, driver)
                if plan.kind == "gan"
                else _EditorSchedule(plan, self.wrapper, driver)
            )
            for key, sub in self.wrapper.items():
                self.clock.watch(sub.optimizer, key)
                self.trace.params.update(describe_optimizer(sub.optimizer, key, names))
                settings = wrapper_settings(sub)
                if settings.amp is not None and not plan.optim_context:
                    # The scaler still scales, but no autocast region is ever entered.
                    settings.amp = {**settings.amp, "dtype": None}
                    self.trace.notes.append(
                        f"NEW: {plan.model_type}.train_step does not enter optim_context, so "
                        f"the autocast of {key}'s AmpOptimWrapper never applies "
                        "(docs/gan.md#the-mmagic-train_step)"
                    )
                self.trace.modules[key] = settings
            sched: dict[str, Any] = {"class": plan.model_type}
            if plan.kind == "restorer":
                sched["wrappers"] = list(self.wrapper.keys())
            elif plan.family == "translation":
                sched["discriminator_steps"] = plan.discriminator_steps
                sched["disc_init_steps"] = plan.disc_init_steps
            else:
                sched["discriminator_steps"] = plan.discriminator_steps
                sched["generator_steps"] = plan.generator_steps
            for key in plan.module_keys[::-1] if plan.kind == "gan" else ():
                sched[f"{key}.accumulative_counts"] = self.wrapper[key]._accumulative_counts
            self.trace.schedule = sched
            ema_cfg = (cfg.get("model") or {}).get("ema_config")
            if isinstance(ema_cfg, Mapping) and plan.family == "basegan":
                self._build_ema(dict(ema_cfg))
        else:
            if plan.kind == "gan":
                raise VerifyError("NEW: a GAN optim_wrapper built a single wrapper")
            self.clock.watch(self.wrapper.optimizer, "")
            self.trace.params = describe_optimizer(self.wrapper.optimizer, "", names)
            self.trace.modules[""] = wrapper_settings(self.wrapper)
            self.trace.schedule = {
                "trainer": "MMEngine runner",
                "wrapper": type(self.wrapper).__name__,
            }

    def schedule_target(self) -> Any:
        """The optimizer(s) the 1.x schedulers drive (per wrapper name for a wrapper dict)."""
        if isinstance(self.wrapper, OptimWrapperDict):
            return {key: sub.optimizer for key, sub in self.wrapper.items()}
        return self.wrapper.optimizer

    def _build_ema(self, ema_cfg: dict) -> None:
        """MMagic's ``BaseGAN._init_ema_model`` over the generator (docs/gan.md#ema)."""
        from migrate_optim.verify.ema import ModernEMA

        self.trace.ema_cfg = dict(ema_cfg)
        if ema_cfg.get("type", "ExponentialMovingAverage") != "ExponentialMovingAverage":
            self.trace.notes.append(f"NEW: EMA type {ema_cfg.get('type')!r} is not compared")
            return
        self.schedule.ema_start = ema_cfg.pop("start_iter", 0)
        generator = self.driver.model._modules[self.plan.module_keys[0]]
        ema_cfg.pop("type", None)
        try:
            self.schedule.ema = ModernEMA(generator, **ema_cfg)
        except (TypeError, ValueError) as exc:
            raise VerifyError(f"NEW: cannot build model.ema_config: {exc}") from exc

    def periods(self) -> list[int]:
        """Iteration counts after which this side's schedule repeats (for choosing ``N``)."""
        if isinstance(self.wrapper, OptimWrapperDict) and self.plan.kind == "restorer":
            return [1]
        if isinstance(self.wrapper, OptimWrapperDict):
            disc = self.wrapper[self.plan.module_keys[1]]
            return [self.plan.discriminator_steps * disc._accumulative_counts]
        return [self.wrapper._accumulative_counts]

    def offset(self) -> int:
        """Iterations before the schedule starts repeating (translation ``disc_init_steps``)."""
        return self.plan.disc_init_steps if self.plan.family == "translation" else 0

    def train(self, steps: int) -> SideTrace:
        """Train ``steps`` iterations as MMEngine's ``IterBasedTrainLoop`` would."""
        driver = self.driver
        try:
            # Runner.train: a no-op for an OptimWrapperDict (docs/gan.md#resume-caveats).
            self.wrapper.initialize_count_status(driver.model, 0, steps)
            for i in range(steps):
                self.clock.iteration = i
                if self.before_iteration is not None:
                    self.before_iteration(i)
                if isinstance(self.wrapper, OptimWrapperDict):
                    self.schedule.train_step(i)
                else:
                    with self.wrapper.optim_context(driver.context_target()):
                        loss = driver.loss(driver.batch(i))
                    self.wrapper.update_params(loss)
        except VerifyError:
            raise
        except Exception as exc:  # noqa: BLE001 - the 1.x training itself failed
            raise VerifyError(f"NEW: 1.x training failed: {_brief(exc)}") from exc
        finally:
            self.clock.close()
        self.trace.steps = {k: list(v) for k, v in self.clock.steps.items()}
        ema = getattr(getattr(self, "schedule", None), "ema", None)
        if ema is not None:
            self.trace.ema = snapshot(ema.module)
        return self.trace


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
