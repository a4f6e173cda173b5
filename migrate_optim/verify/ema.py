"""EMA in ``verify``: average the generator on both sides and compare the averaged weights.

0.x (docs/gan.md#ema): ``custom_hooks=[dict(type='ExponentialMovingAverageHook', module_keys=
('generator_ema',), interval, start_iter, interp_cfg=dict(momentum=m, momentum_nontrainable=
mn), momentum_policy)]`` acts after every runner iteration (G updated or not), see
:class:`~migrate_optim.runtime.legacy.ema.ExponentialMovingAverageHook`.

1.x (docs/gan.md#ema): ``model.ema_config`` builds MMagic's ``ExponentialMovingAverage``
(``mmagic/models/base_models/average_model.py``) on top of MMEngine's ``BaseAveragedModel``
(``mmengine/model/averaged_model.py :: update_parameters``): ``start_iter`` is popped by
``BaseGAN._init_ema_model``; after each G round ``BaseGAN.train_step`` calls
``update_parameters(G)`` (then ``sync_buffers`` unless ``update_buffers``) when
``(i + 1) >= start_iter * discriminator_steps * accD``, else ``sync_parameters(G)``.
``update_parameters``: the first call copies, later calls with ``steps % interval == 0``
average ``ema = ema + momentum * (src - ema)`` (``lerp_``), over the parameters only, or the
whole state dict with ``update_buffers=True``; ``steps`` counts calls.

:func:`compare_ema` compares the two averaged generators after N iterations and names the
``ema_config`` fields that differ from the 0.x hook's exact 1.x form (``momentum = 1 - m``,
``interval`` and ``start_iter`` divided by the G-round period, ``update_buffers = (mn == m)``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ModernEMA", "compare_ema", "expected_ema_config", "legacy_ema_hook"]

_HOOK = "ExponentialMovingAverageHook"


def legacy_ema_hook(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 0.x EMA hook config in ``custom_hooks`` (without ``type``/``priority``), or None."""
    for hook in cfg.get("custom_hooks") or []:
        if isinstance(hook, Mapping) and hook.get("type") == _HOOK:
            return {k: v for k, v in hook.items() if k not in ("type", "priority")}
    return None


class ModernEMA:
    """MMagic ``ExponentialMovingAverage`` over one source module (our re-implementation)."""

    def __init__(
        self,
        model: nn.Module,
        momentum: float = 0.0002,
        interval: int = 1,
        update_buffers: bool = False,
        **unused: Any,
    ) -> None:
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"ema momentum must be in (0, 1), got {momentum}")
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.momentum, self.interval, self.update_buffers = momentum, interval, update_buffers
        self.steps = 0

    def _avg(self) -> dict[str, torch.Tensor]:
        if self.update_buffers:
            return self.module.state_dict()
        return dict(self.module.named_parameters())

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """``BaseAveragedModel.update_parameters`` with MMagic's ``lerp_`` average."""
        src = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        for key, avg in self._avg().items():
            if self.steps == 0:
                avg.data.copy_(src[key].data)
            elif self.steps % self.interval == 0 and avg.dtype.is_floating_point:
                avg.data.lerp_(src[key].data.to(avg.device), self.momentum)
        if not self.update_buffers:
            self.sync_buffers(model)
        self.steps += 1

    @torch.no_grad()
    def sync_buffers(self, model: nn.Module) -> None:
        """Copy the source's buffers."""
        for avg, src in zip(self.module.buffers(), model.buffers(), strict=True):
            avg.data.copy_(src.data.to(avg.device))

    @torch.no_grad()
    def sync_parameters(self, model: nn.Module) -> None:
        """Copy the source's whole state (before ``start_iter``)."""
        src = model.state_dict()
        for key, avg in self.module.state_dict().items():
            avg.data.copy_(src[key].data.to(avg.device))


def expected_ema_config(hook: Mapping[str, Any], period: int) -> dict[str, Any]:
    """The exact 1.x ``ema_config`` of a 0.x hook, G rounds every ``period`` iterations."""
    interp = dict(hook.get("interp_cfg") or {})
    m = interp.get("momentum", 0.999)
    mn = interp.get("momentum_nontrainable", 0.0)
    policy = hook.get("momentum_policy", "fixed")
    out: dict[str, Any] = {
        "type": "RampUpEMA" if policy == "rampup" else "ExponentialMovingAverage",
        "interval": hook.get("interval", -1) / period,
        "momentum": 1 - m,
        "update_buffers": mn == m,
        "start_iter": hook.get("start_iter", 0) / period,
    }
    return out


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
        except (TypeError, ValueError):
            return False
    return a == b


def compare_ema(
    old: Mapping[str, torch.Tensor],
    new: Mapping[str, torch.Tensor],
    hook: Mapping[str, Any],
    ema_config: Mapping[str, Any],
    period: int,
    rtol: float,
) -> tuple[list, list]:
    """``(differences, notes)``: averaged weights of both sides, and the fields behind a gap."""
    from migrate_optim.verify.compare import Observation

    expected = expected_ema_config(hook, period)
    actual = {
        "type": ema_config.get("type", "ExponentialMovingAverage"),
        "interval": ema_config.get("interval", 1),
        "momentum": ema_config.get("momentum", 0.0002),
        "update_buffers": ema_config.get("update_buffers", False),
        "start_iter": ema_config.get("start_iter", 0),
    }
    wrong = [k for k in expected if not _close(expected[k], actual[k])]
    bad = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None or b is None or a.shape != b.shape:
            bad.append(name)
            continue
        # lerp written two ways (0.x: orig + (ema - orig) * m; 1.x: ema.lerp_(src, 1 - m)) rounds
        # differently by an ulp per update: compare at 1e-5 of the tensor's scale
        scale = float(b.abs().max()) if b.numel() else 0.0
        tol = max(rtol, 1e-5)
        if a.is_floating_point() and not torch.allclose(
            a, b, rtol=tol, atol=tol * max(scale, 1e-3)
        ):
            bad.append(name)
    fields = ", ".join(
        f"ema_config.{k}={actual[k]!r} (the 0.x hook means {expected[k]!r})" for k in wrong
    )
    differences, notes = [], []
    if bad:
        why = f": {fields}" if fields else ""
        differences.append(
            Observation(
                "ema",
                "generator_ema",
                f"EMA weights differ for {len(bad)} entries (e.g. generator_ema.{bad[0]}){why}",
                f"ema_config.{wrong[0]}" if wrong else "ema_config",
                {k: expected[k] for k in wrong} or None,
                {k: actual[k] for k in wrong} or None,
                [f"generator_ema.{n}" for n in bad],
            )
        )
    elif wrong:
        differences.append(
            Observation(
                "ema",
                "generator_ema",
                f"EMA weights agree after this run, but {fields}",
                f"ema_config.{wrong[0]}",
                {k: expected[k] for k in wrong},
                {k: actual[k] for k in wrong},
            )
        )
    else:
        notes.append(
            Observation("note", "generator_ema", f"EMA weights compared: {len(old)} entries agree")
        )
    return differences, notes


def first_copy_hook(hook_cfg: Mapping[str, Any]) -> Any:
    """The 0.x hook, except that its first averaging step copies (as MMagic's first update).

    Used only to tell the documented first-update deviation (convert's MO207 warning) apart
    from a wrong ``ema_config``: the real 0.x hook is what the verdict is about.
    """
    from migrate_optim.runtime.legacy.ema import ExponentialMovingAverageHook

    class _FirstCopy(ExponentialMovingAverageHook):
        copied = False

        @torch.no_grad()
        def after_train_iter(self, runner: Any) -> None:
            if (
                not self.copied
                and runner.iter >= self.start_iter
                and self.every_n_iters(runner, self.interval)
            ):
                self.copied = True
                model = self._unwrap(runner.model)
                for key in self.module_keys:
                    getattr(model, key).load_state_dict(getattr(model, key[:-4]).state_dict())
                return
            super().after_train_iter(runner)

    return _FirstCopy(**hook_cfg)
