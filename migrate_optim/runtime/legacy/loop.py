"""A tiny runner-like training loop that drives 0.x hooks the way an mmcv 1.x runner does.

mmcv's ``IterBasedRunner``/``EpochBasedRunner`` call ``model.train_step`` (which returns
``outputs`` with a ``loss``) and then the hooks; the optimizer hook does the whole update in
``after_train_iter``. :class:`LegacyRunner` keeps exactly the state the hooks read (``iter``,
``max_iters``, ``model``, ``optimizer``, ``outputs``, ``meta``, ``log_buffer``, ``logger``) and
runs a caller-supplied forward callable in place of ``train_step``.

``runner.iter`` is the 0-based global iteration (incremented after the hooks). For an epoch
runner, ``max_iters`` is ``max_epochs * len(loader)``, which is what mmcv's hooks saw.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .hooks import PRIORITY, Hook, build_optimizer_hook

ForwardFn = Callable[['LegacyRunner'], 'torch.Tensor | Mapping[str, Any]']


class LogBuffer:
    """Per-key history of logged values (``grad_norm`` etc.), like mmcv's ``LogBuffer``."""

    def __init__(self) -> None:
        self.val_history: dict[str, list[float]] = defaultdict(list)
        self.n_history: dict[str, list[int]] = defaultdict(list)

    def update(self, vars: Mapping[str, float], count: int = 1) -> None:
        """Record one value per key, with its sample count."""
        for key, value in vars.items():
            self.val_history[key].append(value)
            self.n_history[key].append(count)


class LegacyRunner:
    """Runner-like loop for 0.x optimizer hooks.

    ``hooks`` are hook objects or configs; configs are built with
    :func:`~migrate_optim.runtime.legacy.hooks.build_optimizer_hook` (so an ``optimizer_config``
    dict works as is) and registered at ``ABOVE_NORMAL`` priority, as mmcv did for the optimizer
    hook. Other hooks can be added with :meth:`register_hook` (e.g. an lr updater at
    ``VERY_HIGH``); hooks run in priority order, ties in registration order.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None,
        max_iters: int,
        hooks: Iterable[Hook | dict | None] = (),
        *,
        start_iter: int = 0,
        iters_per_epoch: int | None = None,
        meta: dict | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self._max_iters = max_iters
        self.iter = start_iter
        self.iters_per_epoch = iters_per_epoch
        self.meta: dict = {} if meta is None else meta
        self.logger = logger or logging.getLogger('migrate_optim.legacy')
        self.log_buffer = LogBuffer()
        self.outputs: dict[str, Any] = {}
        self._hooks: list[tuple[int, int, Hook]] = []
        self._started = False
        for hook in hooks:
            built = build_optimizer_hook(hook) if isinstance(hook, dict) else hook
            if built is not None:
                self.register_hook(built, priority='ABOVE_NORMAL')

    @property
    def max_iters(self) -> int:
        """Total number of iterations of the run."""
        return self._max_iters

    @property
    def epoch(self) -> int:
        """0-based epoch, when ``iters_per_epoch`` is known (else 0)."""
        return self.iter // self.iters_per_epoch if self.iters_per_epoch else 0

    @property
    def hooks(self) -> list[Hook]:
        """Registered hooks in call order."""
        return [hook for _, _, hook in self._hooks]

    def register_hook(self, hook: Hook, priority: int | str = 'NORMAL') -> None:
        """Add ``hook``; ``priority`` is an mmcv priority name or number (lower runs first)."""
        value = PRIORITY[priority] if isinstance(priority, str) else int(priority)
        self._hooks.append((value, len(self._hooks), hook))
        self._hooks.sort(key=lambda item: (item[0], item[1]))

    def call_hook(self, stage: str) -> None:
        """Call ``stage`` (e.g. ``'after_train_iter'``) on every hook that defines it."""
        for hook in self.hooks:
            method = getattr(hook, stage, None)
            if method is not None:
                method(self)

    def _forward_context(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for hook in self.hooks:
            make_context = getattr(hook, 'forward_context', None)
            if make_context is not None:
                stack.enter_context(make_context(self))
        return stack

    def train_iter(self, forward: ForwardFn) -> dict[str, Any]:
        """Run one iteration: hooks' ``before_train_iter``, ``forward(self)``, hooks'
        ``after_train_iter``, then ``iter += 1``. ``forward`` returns the loss tensor or a dict
        with ``loss`` (and optionally ``num_samples``). Returns the outputs dict.
        """
        if not self._started:
            self._started = True
            self.call_hook('before_run')
        self.call_hook('before_train_iter')
        with self._forward_context():
            result = forward(self)
        outputs = {'loss': result} if isinstance(result, torch.Tensor) else dict(result)
        if 'loss' not in outputs:
            raise KeyError('the forward must return a loss tensor or a dict with "loss"')
        outputs.setdefault('num_samples', 1)
        self.outputs = outputs
        self.call_hook('after_train_iter')
        self.iter += 1
        return outputs

    def run(self, forward: ForwardFn) -> None:
        """Iterate from the current ``iter`` up to ``max_iters``, then call ``after_run``."""
        while self.iter < self.max_iters:
            self.train_iter(forward)
        self.call_hook('after_run')


def build_legacy_runner(
    model: nn.Module,
    cfg: Mapping[str, Any],
    codebase: str,
    *,
    distributed: bool = False,
    iters_per_epoch: int | None = None,
) -> LegacyRunner:
    """A :class:`LegacyRunner` set up the way an mmdet/mmcls/mmseg 0.x train API would.

    The optimizer comes from ``cfg['optimizer']`` (:func:`build_optimizer`), the hook from
    :func:`resolve_optimizer_hook` and the length from :func:`resolve_train_length`; an
    epoch-based config needs ``iters_per_epoch`` (``max_iters = max_epochs * iters_per_epoch``,
    which is what mmcv's hooks saw). Not modelled: mmdet's ``auto_scale_lr``. mmgen/mmedit
    models step their own optimizers: use ``LegacyGANRunner`` for those.
    """
    from .constructor import build_optimizer
    from .trainer_rules import normalize_codebase, resolve_optimizer_hook, resolve_train_length

    cb = normalize_codebase(codebase)
    if cb in ('mmgen', 'mmedit'):
        raise ValueError(f'{cb} models step their own optimizers; use LegacyGANRunner')
    optimizer = build_optimizer(model, cfg['optimizer'])
    hook_cfg = resolve_optimizer_hook(cfg, cb, distributed)
    by_epoch, length = resolve_train_length(cfg, cb)
    if by_epoch:
        if not iters_per_epoch:
            raise ValueError('an epoch-based config needs iters_per_epoch')
        max_iters = length * iters_per_epoch
    else:
        max_iters = length
    hooks = [] if hook_cfg is None else [hook_cfg]
    return LegacyRunner(model, optimizer, max_iters, hooks, iters_per_epoch=iters_per_epoch)
