"""MMGeneration 0.7.3's ``ExponentialMovingAverageHook`` math (docs/gan.md#ema).

``mmgen==0.7.3: mmgen/core/hooks/ema_hook.py :: ExponentialMovingAverageHook``. ``use_ema`` in
``train_cfg`` only creates ``generator_ema``; this hook does the averaging, in *runner*
iterations, whether or not G was updated in that iteration:

* it acts when ``runner.iter < start_iter`` (then it copies the original weights) or when
  ``(runner.iter + 1 - start_iter) % interval == 0`` (never for ``interval <= 0``);
* ``lerp(orig, ema, momentum=m)`` = ``orig + (ema - orig) * m``: ``m`` is the weight *kept* on
  the EMA copy; entries that do not require grad (buffers, frozen params) use
  ``momentum_nontrainable`` (default 0: copied from the original);
* ``momentum_policy='rampup'`` recomputes ``m = 0.5 ** (batch_size / max(ema_nimg, eps))`` with
  ``ema_nimg = min(ema_kimg * 1000, (iter + 1) * batch_size * ema_rampup)``.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch


class ExponentialMovingAverageHook:
    """0.x EMA hook; works with any runner exposing ``model`` and ``iter``."""

    def __init__(
        self,
        module_keys: str | tuple[str, ...],
        interp_mode: str = 'lerp',
        interp_cfg: dict | None = None,
        interval: int = -1,
        start_iter: int = 0,
        momentum_policy: str = 'fixed',
        momentum_cfg: dict | None = None,
    ) -> None:
        if interp_mode != 'lerp':
            raise AssertionError(f"Supported interpolation: ['lerp'], got {interp_mode}")
        if momentum_policy not in ('fixed', 'rampup'):
            raise AssertionError(
                f"Supported momentum policy are ['rampup', 'fixed'], got {momentum_policy}"
            )
        keys = (module_keys,) if isinstance(module_keys, str) else tuple(module_keys)
        for key in keys:
            if not isinstance(key, str) or not key.endswith('_ema'):
                raise AssertionError('You should give keys that end with "_ema".')
        self.module_keys = keys
        self.interp_mode = interp_mode
        self.interp_cfg = copy.deepcopy(interp_cfg) if interp_cfg else {}
        self.interval = interval
        self.start_iter = start_iter
        self.momentum_policy = momentum_policy
        self.momentum_cfg = copy.deepcopy(momentum_cfg) if momentum_cfg else {}

    @staticmethod
    def lerp(
        a: torch.Tensor,
        b: torch.Tensor,
        momentum: float = 0.999,
        momentum_nontrainable: float = 0.0,
        trainable: bool = True,
    ) -> torch.Tensor:
        """``a + (b - a) * m``, ``a`` the original, ``b`` the EMA value."""
        m = momentum if trainable else momentum_nontrainable
        return a + (b - a) * m

    @staticmethod
    def rampup(
        runner: Any,
        ema_kimg: float = 10,
        ema_rampup: float | None = 0.05,
        batch_size: int = 4,
        eps: float = 1e-8,
    ) -> dict[str, float]:
        """StyleGAN3-style momentum ramp-up from the runner iteration."""
        cur_nimg = (runner.iter + 1) * batch_size
        ema_nimg = ema_kimg * 1000
        if ema_rampup is not None:
            ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
        return {'momentum': 0.5 ** (batch_size / max(ema_nimg, eps))}

    def every_n_iters(self, runner: Any, n: int) -> bool:
        """Whether the hook acts at ``runner.iter`` (see the module docstring)."""
        if runner.iter < self.start_iter:
            return True
        return (runner.iter + 1 - self.start_iter) % n == 0 if n > 0 else False

    @staticmethod
    def _unwrap(model: Any) -> Any:
        return model.module if hasattr(model, 'module') else model

    def before_run(self, runner: Any) -> None:
        """Create missing ``*_ema`` copies (with a warning), as the 0.x hook did."""
        model = self._unwrap(runner.model)
        for key in self.module_keys:
            has_ema, has_orig = hasattr(model, key), hasattr(model, key[:-4])
            if not has_ema and not has_orig:
                raise RuntimeError(f'Cannot find both {key[:-4]} and {key} network for EMA hook.')
            if not has_ema:
                setattr(model, key, copy.deepcopy(getattr(model, key[:-4])))
                warnings.warn(
                    f'EMA model {key} was created by the hook; define it in the model instead.',
                    stacklevel=2,
                )

    @torch.no_grad()
    def after_train_iter(self, runner: Any) -> None:
        """Average (or copy, before ``start_iter``) the original weights into the EMA copies."""
        if not self.every_n_iters(runner, self.interval):
            return
        model = self._unwrap(runner.model)
        interp_cfg = copy.deepcopy(self.interp_cfg)
        if self.momentum_policy != 'fixed':
            interp_cfg.update(self.rampup(runner, **self.momentum_cfg))
        for key in self.module_keys:
            ema_net = getattr(model, key)
            states_ema = ema_net.state_dict(keep_vars=False)
            states_orig = getattr(model, key[:-4]).state_dict(keep_vars=True)
            for name, value in states_orig.items():
                if runner.iter < self.start_iter:
                    states_ema[name].data.copy_(value.data)
                else:
                    states_ema[name] = self.lerp(
                        value, states_ema[name], trainable=value.requires_grad, **interp_cfg
                    ).detach()
            ema_net.load_state_dict(states_ema, strict=True)
