"""mmcv 1.7.2's optimizer hooks, re-implemented (docs/optimizer-hooks.md#the-mmcv-hooks).

``mmcv==1.7.2: mmcv/runner/hooks/optimizer.py`` — ``OptimizerHook``,
``GradientCumulativeOptimizerHook``, ``Fp16OptimizerHook`` and
``GradientCumulativeFp16OptimizerHook`` (the torch >= 1.6 branch, i.e. ``GradScaler``-based), plus
the ``DistOptimizerHook`` alias of mmdet/mmcls. They are plain classes driven by
:class:`~migrate_optim.runtime.legacy.loop.LegacyRunner` (or anything with the same attributes:
``iter``, ``max_iters``, ``model``, ``optimizer``, ``outputs``, ``meta``, ``log_buffer``,
``logger``).

AMP differences from mmcv, on purpose:

* mmcv built ``torch.cuda.amp.GradScaler`` (disabled, i.e. a no-op, on a machine without CUDA);
  here the scaler is ``torch.amp.GradScaler(device_type)`` for the device the model lives on, so
  the same code runs on CUDA and on CPU.
* mmcv's autocast was *decorator-scoped*: ``wrap_fp16_model`` only set ``fp16_enabled=True`` on
  modules having that attribute, and only methods decorated with ``@auto_fp16`` ran in half
  precision. Here the fp16 hooks expose :meth:`Fp16OptimizerHook.forward_context`, which the loop
  wraps around the *whole* forward callable it is given (``float16`` on CUDA, ``bfloat16`` on
  CPU by default). ``wrap_fp16_model`` is still applied, so models that read ``fp16_enabled``
  behave as under mmcv.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import clip_grad_norm_

from .registry import HOOKS

# mmcv's ``Priority`` values, used to order hooks in the loop.
PRIORITY = {
    'HIGHEST': 0,
    'VERY_HIGH': 10,
    'HIGH': 30,
    'ABOVE_NORMAL': 40,
    'NORMAL': 50,
    'BELOW_NORMAL': 60,
    'LOW': 70,
    'VERY_LOW': 90,
    'LOWEST': 100,
}


class Hook:
    """Base hook: every stage is a no-op; helpers mirror mmcv's ``Hook``."""

    def before_run(self, runner: Any) -> None:
        """Called once before the first iteration."""

    def after_run(self, runner: Any) -> None:
        """Called once after the last iteration."""

    def before_train_iter(self, runner: Any) -> None:
        """Called before the forward of each iteration."""

    def after_train_iter(self, runner: Any) -> None:
        """Called after the forward of each iteration (``runner.outputs`` is set)."""

    @staticmethod
    def every_n_iters(runner: Any, n: int) -> bool:
        """True on iterations ``n-1, 2n-1, ...`` (0-based), never for ``n <= 0``."""
        return (runner.iter + 1) % n == 0 if n > 0 else False

    @staticmethod
    def is_last_iter(runner: Any) -> bool:
        """True on the final iteration (``iter + 1 == max_iters``)."""
        return runner.iter + 1 == runner.max_iters


def wrap_fp16_model(model: nn.Module) -> None:
    """mmcv's ``wrap_fp16_model`` for torch >= 1.6: flag modules that have ``fp16_enabled``."""
    for module in model.modules():
        if hasattr(module, 'fp16_enabled'):
            module.fp16_enabled = True


@HOOKS.register
class OptimizerHook(Hook):
    """``zero_grad`` -> ``backward`` -> optional norm clipping over all model params -> ``step``.

    ``grad_clip`` holds the keyword arguments of ``torch.nn.utils.clip_grad_norm_``
    (``max_norm``, ``norm_type``, ``error_if_nonfinite``). Clipping is over
    ``runner.model.parameters()`` that require grad and have a gradient — all of the model's
    parameters, not only the optimizer's — and the returned norm is logged as ``grad_norm``.
    """

    def __init__(self, grad_clip: dict | None = None, detect_anomalous_params: bool = False):
        self.grad_clip = grad_clip
        self.detect_anomalous_params = detect_anomalous_params

    def clip_grads(self, params: Iterable[nn.Parameter]) -> torch.Tensor | None:
        """Clip the gradient norm of ``params`` (those with a gradient); return the norm."""
        params = [p for p in params if p.requires_grad and p.grad is not None]
        if params:
            return clip_grad_norm_(params, **self.grad_clip)
        return None

    def _clip_and_log(self, runner: Any) -> None:
        if self.grad_clip is None:
            return
        grad_norm = self.clip_grads(runner.model.parameters())
        if grad_norm is not None:
            runner.log_buffer.update(
                {'grad_norm': float(grad_norm)}, runner.outputs.get('num_samples', 1)
            )

    def after_train_iter(self, runner: Any) -> None:
        """Apply one optimizer update from ``runner.outputs['loss']``."""
        runner.optimizer.zero_grad()
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(runner.outputs['loss'], runner)
        runner.outputs['loss'].backward()
        self._clip_and_log(runner)
        runner.optimizer.step()

    def detect_anomalous_parameters(self, loss: torch.Tensor, runner: Any) -> list[str]:
        """Log (at ERROR) and return trainable parameters absent from ``loss``'s autograd graph."""
        in_graph: set[int] = set()
        seen: set[Any] = set()
        stack = [loss.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            variable = getattr(fn, 'variable', None)
            if variable is not None:
                in_graph.add(id(variable))
            stack.extend(parent for parent, _ in fn.next_functions)
        missing = []
        for name, param in runner.model.named_parameters():
            if param.requires_grad and id(param) not in in_graph:
                missing.append(name)
                runner.logger.log(
                    logging.ERROR,
                    f'{name} with shape {param.size()} is not in the computational graph',
                )
        return missing


@HOOKS.register
class DistOptimizerHook(OptimizerHook):
    """mmdet 2.x / mmcls 0.x ``DistOptimizerHook``: the same update as :class:`OptimizerHook`.

    mmdet's is a deprecated alias of ``OptimizerHook`` (``mmdet/core/utils/dist_utils.py``);
    mmcls's takes ``grad_clip, coalesce, bucket_size_mb`` (``mmcls/core/utils/dist_utils.py``)
    and does not log ``grad_norm``. ``coalesce``/``bucket_size_mb`` had no effect on the update.
    """

    def __init__(
        self,
        grad_clip: dict | None = None,
        coalesce: bool = True,
        bucket_size_mb: int = -1,
        detect_anomalous_params: bool = False,
    ):
        super().__init__(grad_clip=grad_clip, detect_anomalous_params=detect_anomalous_params)
        self.coalesce = coalesce
        self.bucket_size_mb = bucket_size_mb


@HOOKS.register
class GradientCumulativeOptimizerHook(OptimizerHook):
    """Accumulate gradients over ``cumulative_iters`` iterations, counted on the global iteration.

    On the first call it computes ``divisible_iters = max_iters // c * c`` and
    ``remainder_iters = max_iters - divisible_iters`` (warning when resuming off a window
    boundary, or when the model has BatchNorm and ``c > 1``). Each iteration backpropagates
    ``loss / c`` (``loss / remainder_iters`` in the final partial window) and steps + zeroes the
    optimizer when ``(iter + 1) % c == 0`` or on the last iteration. No ``zero_grad`` happens
    before the first window.
    """

    def __init__(self, cumulative_iters: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if not (isinstance(cumulative_iters, int) and cumulative_iters > 0):
            raise AssertionError(
                f'cumulative_iters only accepts positive int, but got {type(cumulative_iters)} '
                'instead.'
            )
        self.cumulative_iters = cumulative_iters
        self.divisible_iters = 0
        self.remainder_iters = 0
        self.initialized = False

    @staticmethod
    def has_batch_norm(module: nn.Module) -> bool:
        """True when ``module`` or a descendant is a ``_BatchNorm``."""
        return any(isinstance(m, _BatchNorm) for m in module.modules())

    def _init(self, runner: Any) -> None:
        if runner.iter % self.cumulative_iters != 0:
            runner.logger.warning(
                'Resume iter number is not divisible by cumulative_iters in '
                'GradientCumulativeOptimizerHook: the gradient of some iterations is lost.'
            )
        if self.has_batch_norm(runner.model) and self.cumulative_iters > 1:
            runner.logger.warning(
                'GradientCumulativeOptimizerHook may slightly decrease performance if the model '
                'has BatchNorm layers.'
            )
        self.divisible_iters = runner.max_iters // self.cumulative_iters * self.cumulative_iters
        self.remainder_iters = runner.max_iters - self.divisible_iters
        self.initialized = True

    def _get_loss_factor(self, runner: Any) -> int:
        if runner.iter < runner.max_iters - self.remainder_iters:
            return self.cumulative_iters
        factor = self.remainder_iters
        runner.logger.warning(
            f'Loss will be divided by {factor} in the last {self.remainder_iters} iterations '
            f'because they are not enough for {self.cumulative_iters} cumulative_iters.'
        )
        if factor <= 0:
            raise AssertionError('loss factor must be positive')
        return factor

    def _is_update_iter(self, runner: Any) -> bool:
        return self.every_n_iters(runner, self.cumulative_iters) or self.is_last_iter(runner)

    def after_train_iter(self, runner: Any) -> None:
        """Backpropagate the divided loss; step + zero_grad at window ends."""
        if not self.initialized:
            self._init(runner)
        loss = runner.outputs['loss'] / self._get_loss_factor(runner)
        loss.backward()
        if self._is_update_iter(runner):
            self._clip_and_log(runner)
            runner.optimizer.step()
            runner.optimizer.zero_grad()


def _default_device_type() -> str:
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def _model_device_type(model: nn.Module) -> str | None:
    for param in model.parameters():
        return param.device.type
    return None


@HOOKS.register
class Fp16OptimizerHook(OptimizerHook):
    """Mixed-precision update with a ``GradScaler`` (mmcv's torch >= 1.6 branch).

    ``loss_scale``: ``'dynamic'`` -> ``GradScaler()``; a ``float`` -> ``GradScaler(init_scale=x)``
    whose scale is re-set to ``x`` by ``update(x)`` after every step (static scale; steps with
    inf/nan gradients are still skipped); a ``dict`` -> ``GradScaler(**d)``; anything else —
    including an ``int`` — raises ``ValueError``. ``coalesce``, ``bucket_size_mb`` and
    ``distributed`` are accepted and unused, as in mmcv.

    Per iteration: ``model.zero_grad()``, ``optimizer.zero_grad()``, ``scale(loss).backward()``,
    ``unscale_``, optional clipping, ``scaler.step``, ``scaler.update(static or None)``, and the
    scaler state is stored in ``runner.meta['fp16']['loss_scaler']`` (and restored from there in
    ``before_run``).

    Keyword-only extras (ours): ``device_type`` for the scaler (default: the model's device at
    ``before_run``, else CUDA if available, else CPU) and ``autocast_dtype`` for
    :meth:`forward_context` (default ``float16`` on CUDA, ``bfloat16`` elsewhere).
    """

    def __init__(
        self,
        grad_clip: dict | None = None,
        coalesce: bool = True,
        bucket_size_mb: int = -1,
        loss_scale: float | str | dict = 512.0,
        distributed: bool = True,
        *,
        device_type: str | None = None,
        autocast_dtype: torch.dtype | None = None,
    ):
        # mmcv's Fp16OptimizerHook does not call OptimizerHook.__init__ and so takes no
        # detect_anomalous_params argument.
        self.grad_clip = grad_clip
        self.detect_anomalous_params = False
        self.coalesce = coalesce
        self.bucket_size_mb = bucket_size_mb
        self.distributed = distributed
        self._scale_update_param: float | None = None
        if isinstance(loss_scale, str) and loss_scale == 'dynamic':
            self._scaler_kwargs: dict[str, Any] = {}
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            self._scaler_kwargs = {'init_scale': loss_scale}
        elif isinstance(loss_scale, dict):
            self._scaler_kwargs = dict(loss_scale)
        else:
            raise ValueError(
                f'loss_scale must be of type float, dict, or "dynamic", got {loss_scale}'
            )
        self.loss_scale = loss_scale
        self.autocast_dtype = autocast_dtype
        self.device_type = device_type or _default_device_type()
        self._device_fixed = device_type is not None
        self.loss_scaler = self._make_scaler(self.device_type)

    def _make_scaler(self, device_type: str) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(device_type, **self._scaler_kwargs)

    def before_run(self, runner: Any) -> None:
        """Flag fp16 modules, move the scaler to the model's device, restore a saved scale."""
        wrap_fp16_model(runner.model)
        model_device = _model_device_type(runner.model)
        if not self._device_fixed and model_device and model_device != self.device_type:
            self.device_type = model_device
            self.loss_scaler = self._make_scaler(model_device)
        saved = runner.meta.get('fp16', {}).get('loss_scaler')
        if saved is not None:
            self.loss_scaler.load_state_dict(saved)

    def resolved_autocast_dtype(self) -> torch.dtype:
        """The dtype :meth:`forward_context` autocasts to."""
        if self.autocast_dtype is not None:
            return self.autocast_dtype
        return torch.float16 if self.device_type == 'cuda' else torch.bfloat16

    @contextlib.contextmanager
    def forward_context(self, runner: Any) -> Iterator[None]:
        """Autocast region the loop puts around the whole forward (see the module docstring)."""
        with torch.autocast(self.device_type, dtype=self.resolved_autocast_dtype()):
            yield

    def _scaler_step(self, runner: Any) -> None:
        self.loss_scaler.unscale_(runner.optimizer)
        self._clip_and_log(runner)
        self.loss_scaler.step(runner.optimizer)
        self.loss_scaler.update(self._scale_update_param)
        runner.meta.setdefault('fp16', {})['loss_scaler'] = self.loss_scaler.state_dict()

    def after_train_iter(self, runner: Any) -> None:
        """One scaled mixed-precision update."""
        runner.model.zero_grad()
        runner.optimizer.zero_grad()
        self.loss_scaler.scale(runner.outputs['loss']).backward()
        self._scaler_step(runner)


@HOOKS.register
class GradientCumulativeFp16OptimizerHook(GradientCumulativeOptimizerHook, Fp16OptimizerHook):
    """:class:`GradientCumulativeOptimizerHook` + :class:`Fp16OptimizerHook`.

    Takes ``cumulative_iters`` plus the fp16 hook's arguments (not ``detect_anomalous_params``).
    Every iteration backpropagates ``scale(loss / factor)``; only at window ends: ``unscale_``,
    clip, ``scaler.step``, ``scaler.update``, save the scaler state, ``model.zero_grad()``,
    ``optimizer.zero_grad()``.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)

    def after_train_iter(self, runner: Any) -> None:
        """Scaled accumulation step."""
        if not self.initialized:
            self._init(runner)
        loss = runner.outputs['loss'] / self._get_loss_factor(runner)
        self.loss_scaler.scale(loss).backward()
        if self._is_update_iter(runner):
            self._scaler_step(runner)
            runner.model.zero_grad()
            runner.optimizer.zero_grad()


def build_optimizer_hook(cfg: dict | Hook | None) -> Hook | None:
    """mmcv ``BaseRunner.register_optimizer_hook``: ``None`` -> no hook; a dict gets
    ``type='OptimizerHook'`` by default and is built from :data:`HOOKS`; a hook is returned as is.
    """
    if cfg is None:
        return None
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        cfg.setdefault('type', 'OptimizerHook')
        return HOOKS.build(cfg)
    return cfg
