"""The 0.x side of ``verify``: train a 0.x config the way its codebase's train API did.

Single-optimizer configs (mmdet/mmcls/mmseg): ``build_optimizer`` + the optimizer hook the
codebase's train API registers for the config (:func:`resolve_optimizer_hook`,
docs/optimizer-hooks.md), driven by :class:`LegacyRunner` for ``N`` iterations
(``runner.max_iters = N``, so cumulative hooks see
the same remainder as a 1.x run of ``N`` iterations). GAN configs (mmgen): ``build_optimizers``
(one optimizer per module) and :class:`LegacyGANRunner` with the model class of ``model.type``
and its ``train_cfg`` (docs/gan.md), with a ``GradScaler`` when ``runner.fp16_loss_scaler`` is set.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Mapping
from typing import Any

import torch

from migrate_optim.runtime.legacy.constructor import build_optimizer, build_optimizers
from migrate_optim.runtime.legacy.gan import GANCallbacks, LegacyGANRunner
from migrate_optim.runtime.legacy.hooks import Fp16OptimizerHook, build_optimizer_hook
from migrate_optim.runtime.legacy.loop import LegacyRunner
from migrate_optim.runtime.legacy.trainer_rules import resolve_optimizer_hook
from migrate_optim.verify.ema import legacy_ema_hook
from migrate_optim.verify.models import ModelDriver
from migrate_optim.verify.plan import OldPlan, VerifyError
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

__all__ = ["LegacyTrainer"]


class LegacyTrainer:
    """Builds the 0.x optimizer(s) and hook for ``cfg`` and trains ``driver``'s model."""

    label = "0.x"

    def __init__(
        self, cfg: Mapping[str, Any], plan: OldPlan, driver: ModelDriver, distributed: bool = False
    ) -> None:
        self.cfg = cfg
        self.plan = plan
        self.driver = driver
        self.distributed = distributed
        self.clock = StepClock()
        # Writes the scheduled lr/momentum of iteration i (set by verify's schedule driver).
        self.before_iteration: Callable[[int], None] | None = None
        model = driver.model
        self.trace, self._frozen = SideTrace.start(self.label, model, plan.notes)
        if plan.codebase_note:
            self.trace.notes.append(f"OLD: {plan.codebase_note}")
        try:
            if plan.kind == "gan":
                self._build_gan()
            elif plan.kind == "restorer":
                self._build_restorer()
            else:
                self._build_single()
        except VerifyError:
            raise
        except Exception as exc:  # noqa: BLE001 - any build failure of the 0.x config
            raise VerifyError(f"OLD: cannot build the 0.x optimizer: {_brief(exc)}") from exc

    # -- building ------------------------------------------------------------------------------
    def _build_single(self) -> None:
        model = self.driver.model
        self.optimizer = build_optimizer(model, self.cfg["optimizer"])
        self.clock.watch(self.optimizer, "")
        hook_cfg = resolve_optimizer_hook(self.cfg, self.plan.codebase, self.distributed)
        self.hook = build_optimizer_hook(dict(hook_cfg)) if hook_cfg is not None else None
        names = parameter_names(model)
        self.trace.params = describe_optimizer(self.optimizer, "", names)
        hook_type = type(self.hook).__name__ if self.hook is not None else "none"
        self.trace.schedule = {
            "trainer": f"{self.plan.codebase} train API",
            "optimizer_hook": hook_type,
        }
        if self.hook is None:
            self.trace.notes.append(
                "OLD: optimizer_config is None: no optimizer hook is registered and the "
                "optimizer never steps"
            )

    def _build_restorer(self) -> None:
        """MMEditing 0.x: ``build_optimizers(model, cfg.optimizers)``, no optimizer hook."""
        model = self.driver.model
        optimizers = build_optimizers(model, self.cfg[self.plan.optimizer_key])
        if not isinstance(optimizers, dict):
            raise VerifyError("OLD: MMEditing optimizers did not build a dict of optimizers")
        # one optimizer over one child is the whole probe's only optimizer: against a single
        # 1.x wrapper it is labelled as the model's ('')
        single = len(optimizers) == 1 and self.plan.as_single
        self.labels = {k: ("" if single else k) for k in optimizers}
        self.optimizers = optimizers
        names = parameter_names(model)
        for key, opt in optimizers.items():
            self.clock.watch(opt, self.labels[key])
            self.trace.params.update(describe_optimizer(opt, self.labels[key], names))
        self.trace.schedule = {
            "trainer": f"{self.plan.model_type}.train_step (mmedit)",
            "optimizers": list(optimizers),
        }

    def _train_restorer(self, steps: int) -> None:
        driver = self.driver
        for i in range(steps):
            self.clock.iteration = i
            if self.before_iteration is not None:
                self.before_iteration(i)
            batch = driver.batch(i)
            for key, opt in self.optimizers.items():
                opt.zero_grad()
                driver.module_loss(key, batch).backward()
                opt.step()
        for key, opt in self.optimizers.items():
            self.trace.modules[self.labels[key]] = ModuleSettings(
                clip=None,
                accumulation=1,
                amp=None,
                optimizer=type(opt).__name__,
                source=f"{self.plan.model_type}.train_step",
            )

    def _build_gan(self) -> None:
        model = self.driver.model
        optimizers = build_optimizers(model, self.cfg["optimizer"])
        if not isinstance(optimizers, dict):
            raise VerifyError("OLD: the GAN optimizer config did not build a dict of optimizers")
        self.optimizers = optimizers
        names = parameter_names(model)
        for key, opt in optimizers.items():
            self.clock.watch(opt, key)
            self.trace.params.update(describe_optimizer(opt, key, names))
        runner_cfg = self.cfg.get("runner") or {}
        scaler_cfg = runner_cfg.get("fp16_loss_scaler") if isinstance(runner_cfg, Mapping) else None
        device = _device_of(model)
        self.loss_scaler = (
            torch.amp.GradScaler(device, **dict(scaler_cfg)) if scaler_cfg is not None else None
        )
        gkey, dkey = self.plan.module_keys
        driver = self.driver

        def disc_loss(ctx: Any) -> torch.Tensor:
            return driver.module_loss(dkey, driver.batch(ctx.runner_iter))

        def gen_loss(ctx: Any) -> torch.Tensor:
            return driver.module_loss(gkey, driver.gen_batch(ctx.runner_iter, ctx.index))

        pass_status = bool(
            isinstance(runner_cfg, Mapping) and runner_cfg.get("pass_training_status")
        )
        self.gan_runner = LegacyGANRunner(
            self.plan.model_type or "",
            model,
            optimizers,
            self.plan.train_cfg,
            GANCallbacks(disc_loss=disc_loss, gen_loss=gen_loss),
            loss_scaler=self.loss_scaler,
            pass_training_status=pass_status,
        )
        schedule: dict[str, Any] = {"class": self.plan.model_type}
        runner = self.gan_runner
        schedule["disc_steps"] = runner.disc_steps
        if self.plan.gan_kind == "basic":
            schedule["gen_steps"] = runner.gen_steps
            schedule["batch_accumulation_steps"] = runner.batch_accumulation_steps
        if self.plan.gan_kind == "translation":
            schedule["disc_init_steps"] = runner.disc_init_steps
        self.trace.schedule = schedule
        self._ema_runs: list = []
        hook_cfg = legacy_ema_hook(self.cfg)
        if hook_cfg is not None and self.plan.gan_kind in ("static", "basic"):
            self._build_ema(hook_cfg, model._modules[gkey])

    def _build_ema(self, hook_cfg: dict, generator: torch.nn.Module) -> None:
        """The 0.x EMA hook (and its first-copy variant) over the generator (docs/gan.md#ema)."""
        from migrate_optim.runtime.legacy.ema import ExponentialMovingAverageHook
        from migrate_optim.verify.ema import first_copy_hook

        keys = hook_cfg.get("module_keys")
        keys = (keys,) if isinstance(keys, str) else tuple(keys or ())
        if keys != ("generator_ema",):
            self.trace.notes.append(f"OLD: EMA hook over {keys} is not compared")
            return
        self.trace.ema_cfg = dict(hook_cfg)
        for hook in (ExponentialMovingAverageHook(**hook_cfg), first_copy_hook(hook_cfg)):
            holder = torch.nn.Module()
            holder.generator = generator
            holder.generator_ema = copy.deepcopy(generator)  # train_cfg.use_ema's copy
            self._ema_runs.append((holder, hook))

    def schedule_target(self) -> Any:
        """The optimizer(s) the 0.x lr/momentum hooks drive (a dict for GANs)."""
        return self.optimizer if self.plan.kind == "single" else self.optimizers

    # -- facts for the step count --------------------------------------------------------------
    def periods(self) -> list[int]:
        """Iteration counts after which this side's schedule repeats (for choosing ``N``)."""
        if self.plan.kind == "gan":
            runner = self.gan_runner
            out = [runner.disc_steps]
            if self.plan.gan_kind == "basic":
                out.append(runner.batch_accumulation_steps)
            return out
        if self.plan.kind == "restorer":
            return [1]
        return [int(getattr(self.hook, "cumulative_iters", 1) or 1)]

    def offset(self) -> int:
        """Iterations before the schedule starts repeating (translation ``disc_init_steps``)."""
        if self.plan.kind == "gan" and self.plan.gan_kind == "translation":
            return int(self.gan_runner.disc_init_steps)
        return 0

    # -- training ------------------------------------------------------------------------------
    def train(self, steps: int) -> SideTrace:
        """Train ``steps`` iterations and return the trace (settings, steps, final values)."""
        try:
            if self.plan.kind == "gan":
                self._train_gan(steps)
            elif self.plan.kind == "restorer":
                self._train_restorer(steps)
            else:
                self._train_single(steps)
        except VerifyError:
            raise
        except Exception as exc:  # noqa: BLE001 - the 0.x training itself failed
            raise VerifyError(f"OLD: 0.x training failed: {_brief(exc)}") from exc
        finally:
            self.clock.close()
        self.trace.steps = {k: list(v) for k, v in self.clock.steps.items()}
        model = self.driver.model
        self.trace.unfrozen_by_schedule = sorted(
            n for n, p in model.named_parameters() if n in self._frozen and p.requires_grad
        )
        return self.trace

    def _train_single(self, steps: int) -> None:
        driver = self.driver
        hooks = [self.hook] if self.hook is not None else []
        runner = LegacyRunner(driver.hook_target(), self.optimizer, steps, hooks)

        def forward(r: LegacyRunner) -> torch.Tensor:
            return driver.loss(driver.batch(r.iter))

        for i in range(steps):
            self.clock.iteration = i
            if self.before_iteration is not None:
                self.before_iteration(i)
            runner.train_iter(forward)
        runner.call_hook("after_run")
        hook = self.hook
        settings = ModuleSettings(optimizer=type(self.optimizer).__name__)
        if hook is not None:
            settings.source = type(hook).__name__
            settings.clip = clip_spec("norm", getattr(hook, "grad_clip", None))
            settings.accumulation = int(getattr(hook, "cumulative_iters", 1) or 1)
            if isinstance(hook, Fp16OptimizerHook):
                settings.amp = scaler_spec(
                    hook.loss_scaler, hook._scale_update_param, hook.resolved_autocast_dtype()
                )
        else:
            settings.source = "no optimizer hook"
        self.trace.modules = {"": settings}

    def _train_gan(self, steps: int) -> None:
        for i in range(steps):
            self.clock.iteration = i
            if self.before_iteration is not None:
                self.before_iteration(i)
            self.gan_runner.train_step()
            for holder, hook in self._ema_runs:
                hook.after_train_iter(types.SimpleNamespace(model=holder, iter=i))
        if self._ema_runs:
            self.trace.ema = snapshot(self._ema_runs[0][0].generator_ema)
            self.trace.ema_alt = snapshot(self._ema_runs[1][0].generator_ema)
        acc = self.gan_runner.batch_accumulation_steps if self.plan.gan_kind == "basic" else 1
        device = _device_of(self.driver.model)
        dtype = torch.float16 if device == "cuda" else torch.bfloat16
        for key, opt in self.optimizers.items():
            self.trace.modules[key] = ModuleSettings(
                clip=None,
                accumulation=acc,
                amp=scaler_spec(self.loss_scaler, None, dtype),
                optimizer=type(opt).__name__,
                source=f"{self.plan.model_type}.train_step",
            )


def _device_of(model: torch.nn.Module) -> str:
    for param in model.parameters():
        return param.device.type
    return "cpu"


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
