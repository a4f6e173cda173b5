"""Whole-schedule comparison: the lr and momentum of every param group at every iteration.

The 0.x side runs the config's ``lr_config``/``momentum_config`` hooks
(:class:`~migrate_optim.runtime.legacy.lr_hooks.LegacySchedule`) under the runner its codebase
used (``runner``/``total_*``, :func:`~migrate_optim.runtime.legacy.trainer_rules.
resolve_train_length`); the 1.x side builds ``param_scheduler`` for the ``train_cfg`` loop
(:class:`~migrate_optim.runtime.schedulers.ScheduleLoop`). Both run on plain param-group dicts
(:class:`~migrate_optim.runtime.schedulers.GroupsOptimizer`), one per distinct group, so a
160k-iteration schedule costs float arithmetic only (docs/schedules.md).

``iters_per_epoch`` stands in for ``len(train_dataloader)`` (default
:data:`DEFAULT_ITERS_PER_EPOCH`); it only matters for epoch-based training. Values agree when
``|a - b| <= rtol * max(|a|, |b|, 1e-3 * |base value|)`` (``rtol`` default :data:`RTOL`): relative
for normal values, absolute (``rtol·1e-3·base``) near zero, where the two libraries' different
formulas leave rounding noise on values ~0.

Entry points: :func:`compare_schedules` (two loaded configs, optional explicit group pairs),
:func:`smoke_schedules` (drive the real optimizers of a smoke-train with the scheduled values).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrate_optim.runtime.legacy.lr_hooks import LegacySchedule, LegacyScheduleError
from migrate_optim.runtime.legacy.trainer_rules import resolve_train_length
from migrate_optim.runtime.schedulers import GroupsOptimizer, ScheduleLoop

__all__ = [
    "DEFAULT_ITERS_PER_EPOCH",
    "RTOL",
    "ScheduleComparison",
    "TrainingLength",
    "compare_schedules",
    "groups_from_config",
    "legacy_length",
    "modern_length",
    "smoke_schedules",
]

#: ``len(train_dataloader)`` assumed for epoch-based training when not given.
DEFAULT_ITERS_PER_EPOCH = 100
#: relative tolerance on lr and momentum values.
RTOL = 1e-6

_OLD_KEYS = ("lr_config", "momentum_config", "runner", "total_epochs", "total_iters")
_NEW_KEYS = ("param_scheduler", "train_cfg")


class ScheduleUnavailable(Exception):
    """A side's schedule cannot be computed (its length is unknown, or its runtime fails)."""


@dataclass
class TrainingLength:
    """How long one side trains: epochs of ``iters_per_epoch`` or iterations."""

    by_epoch: bool
    max_epochs: int | None
    max_iters: int
    source: str

    def text(self) -> str:
        """``'12 epochs (1200 iterations)'`` or ``'160000 iterations'``, with the source."""
        if self.by_epoch:
            return f"{self.max_epochs} epochs ({self.max_iters} iterations), {self.source}"
        return f"{self.max_iters} iterations, {self.source}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "by_epoch": self.by_epoch,
            "max_epochs": self.max_epochs,
            "max_iters": self.max_iters,
            "source": self.source,
        }


def legacy_length(cfg: Mapping[str, Any], codebase: str, iters_per_epoch: int) -> TrainingLength:
    """The 0.x run length (docs/schedules.md#runner-and-totals) or :class:`ScheduleUnavailable`."""
    try:
        length = resolve_train_length(cfg, codebase or "mmdet")
    except (KeyError, ValueError, TypeError) as exc:
        raise ScheduleUnavailable(f"no 0.x training length ({type(exc).__name__}: {exc})") from exc
    runner = cfg.get("runner")
    kind = runner.get("type") if isinstance(runner, Mapping) else None
    default = "EpochBasedRunner" if length.by_epoch else "IterBasedRunner"
    source = str(kind or f"{default} ({codebase or 'mmdet'} default)")
    if length.by_epoch:
        return TrainingLength(True, length.length, length.length * iters_per_epoch, source)
    return TrainingLength(False, None, length.length, source)


def modern_length(cfg: Mapping[str, Any], iters_per_epoch: int) -> TrainingLength:
    """The 1.x loop length from ``train_cfg`` (``Runner.build_train_loop``)."""
    loop = cfg.get("train_cfg")
    if not isinstance(loop, Mapping) or not loop:
        raise ScheduleUnavailable("no train_cfg: MMEngine's runner cannot train this config")
    kind = loop.get("type")
    if kind is not None and "by_epoch" in loop:
        raise ScheduleUnavailable("train_cfg has both type and by_epoch (MMEngine rejects it)")
    if kind is None:
        by_epoch = bool(loop.get("by_epoch", False))
        kind = "EpochBasedTrainLoop" if by_epoch else "IterBasedTrainLoop"
    elif kind in ("EpochBasedTrainLoop", "IterBasedTrainLoop"):
        by_epoch = kind == "EpochBasedTrainLoop"
    else:
        raise ScheduleUnavailable(f"train loop {kind!r} is not modelled")
    key = "max_epochs" if by_epoch else "max_iters"
    value = loop.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ScheduleUnavailable(f"{kind} needs an int {key}, got {value!r}")
    if by_epoch:
        return TrainingLength(True, value, value * iters_per_epoch, kind)
    return TrainingLength(False, None, value, kind)


# -- param groups ------------------------------------------------------------------------------

_MOMENTUM_KEYS = ("momentum", "betas")


def _optimizer_defaults(kind: Any) -> dict[str, Any]:
    """``momentum``/``betas`` defaults of a torch optimizer class named ``kind`` (if any)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - the verify extra brings torch
        return {}
    cls = getattr(torch.optim, str(kind), None)
    if cls is None:
        return {}
    params = inspect.signature(cls).parameters
    return {k: params[k].default for k in _MOMENTUM_KEYS if k in params}


def _group_from_optimizer(cfg: Mapping[str, Any], mult: float) -> dict[str, Any]:
    group: dict[str, Any] = {"lr": float(cfg.get("lr", 0.0)) * mult}
    for key, default in _optimizer_defaults(cfg.get("type")).items():
        value = cfg.get(key, default)
        group[key] = tuple(value) if key == "betas" else value
    return group


def _lr_mults(paramwise: Any) -> list[float]:
    mults = [1.0]
    if isinstance(paramwise, Mapping):
        for key in ("bias_lr_mult", "dcn_offset_lr_mult"):
            if isinstance(paramwise.get(key), (int, float)):
                mults.append(float(paramwise[key]))
        for option in (paramwise.get("custom_keys") or {}).values():
            if isinstance(option, Mapping) and isinstance(option.get("lr_mult"), (int, float)):
                mults.append(float(option["lr_mult"]))
    return list(dict.fromkeys(mults))


def groups_from_config(
    old_cfg: Mapping[str, Any], new_cfg: Mapping[str, Any]
) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Group pairs per optimizer key from the configs alone (no model).

    One group per wrapper for the base lr, plus one per distinct lr multiplier of the 0.x
    ``paramwise_cfg`` (absolute floors such as ``eta_min`` treat groups with different base lrs
    differently). ``''`` is the single optimizer; GAN configs use their module names.
    """
    old_opt = old_cfg.get("optimizer") or {}
    wrapper = new_cfg.get("optim_wrapper") or {}
    if isinstance(old_opt, Mapping) and "type" in old_opt:
        old_items = {"": old_opt}
    else:
        old_items = {k: v for k, v in old_opt.items() if isinstance(v, Mapping)}
    if isinstance(wrapper, Mapping) and "optimizer" in wrapper:
        new_items = {"": wrapper["optimizer"]}
    else:
        new_items = {
            k: v.get("optimizer", {})
            for k, v in wrapper.items()
            if isinstance(v, Mapping) and isinstance(v.get("optimizer"), Mapping)
        }
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for key in old_items:
        if key not in new_items:
            continue
        paramwise = old_items[key].get("paramwise_cfg") or old_cfg.get("paramwise_cfg")
        out[key] = [
            (_group_from_optimizer(old_items[key], m), _group_from_optimizer(new_items[key], m))
            for m in _lr_mults(paramwise)
        ]
    return out


def _schedule_groups(group: Mapping[str, Any]) -> dict[str, Any]:
    out = {"lr": group["lr"]}
    for key in _MOMENTUM_KEYS:
        if key in group and group[key] is not None:
            out[key] = tuple(group[key]) if key == "betas" else group[key]
    return out


def _optimizer(groups: Sequence[Mapping[str, Any]], type_name: str = "") -> GroupsOptimizer:
    groups = [_schedule_groups(g) for g in groups]
    defaults = {k: groups[0][k] for k in _MOMENTUM_KEYS if groups and k in groups[0]}
    opt = GroupsOptimizer(groups, {"lr": groups[0]["lr"] if groups else 0.0, **defaults})
    opt.type_name = type_name  # type: ignore[attr-defined]
    return opt


# -- the comparison ----------------------------------------------------------------------------


@dataclass
class ScheduleComparison:
    """Outcome of comparing two whole schedules.

    ``status``: ``identical``, ``different`` or ``not compared`` (``reason`` says why).
    ``first_difference``: the first iteration where a value differs, with both values;
    ``max_deviation``: the largest relative lr/momentum difference over the compared iterations.
    """

    status: str
    iters_per_epoch: int
    rtol: float
    reason: str = ""
    old_length: TrainingLength | None = None
    new_length: TrainingLength | None = None
    length_difference: str | None = None
    compared_iterations: int = 0
    first_difference: dict[str, Any] | None = None
    max_deviation: dict[str, Any] | None = None
    old_description: str = ""
    new_description: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the report's ``schedule`` section)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "iters_per_epoch": self.iters_per_epoch,
            "rtol": self.rtol,
            "old_length": self.old_length.to_dict() if self.old_length else None,
            "new_length": self.new_length.to_dict() if self.new_length else None,
            "length_difference": self.length_difference,
            "compared_iterations": self.compared_iterations,
            "first_difference": self.first_difference,
            "max_deviation": self.max_deviation,
            "old": self.old_description,
            "new": self.new_description,
            "notes": list(self.notes),
        }

    def messages(self) -> list[tuple[str, str]]:
        """``(key, sentence)`` per difference (``length``, ``lr``/``momentum``)."""
        out = []
        if self.length_difference:
            out.append(("length", self.length_difference))
        first = self.first_difference
        if first:
            where = f" ({first['group']})" if first.get("group") else ""
            epoch = f", epoch {first['epoch']}" if first.get("epoch") is not None else ""
            text = (
                f"{first['key']} first differs at iteration {first['iteration']}{epoch}{where}: "
                f"0.x {first['old']:.6g} vs 1.x {first['new']:.6g}"
            )
            worst = self.max_deviation
            if worst:
                text += (
                    f"; largest relative difference {worst['relative']:.3g} ({worst['key']}) at "
                    f"iteration {worst['iteration']}: 0.x {worst['old']:.6g} vs "
                    f"1.x {worst['new']:.6g}"
                )
            text += f" (over {self.compared_iterations} iterations, rtol {self.rtol:g})"
            out.append((first["key"], text))
        return out


def _has_any(cfg: Mapping[str, Any], keys: Sequence[str]) -> bool:
    return any(cfg.get(k) is not None for k in keys)


def _describe_old(cfg: Mapping[str, Any]) -> str:
    parts = []
    for key in ("lr_config", "momentum_config"):
        value = cfg.get(key)
        if isinstance(value, Mapping):
            parts.append(f"{key}: {value.get('policy')}")
    return "; ".join(parts) or "no lr_config/momentum_config (constant)"


def _describe_new(cfg: Mapping[str, Any]) -> str:
    sched = cfg.get("param_scheduler")
    if not sched:
        return "no param_scheduler (constant)"
    items: list[Any]
    if isinstance(sched, Mapping) and "type" not in sched:
        return "; ".join(f"{k}: {_describe_new({'param_scheduler': v})}" for k, v in sched.items())
    items = list(sched) if isinstance(sched, (list, tuple)) else [sched]
    return " + ".join(str(s.get("type")) if isinstance(s, Mapping) else repr(s) for s in items)


def _momentum(group: Mapping[str, Any]) -> float | None:
    if "momentum" in group:
        return group["momentum"]
    betas = group.get("betas")
    return betas[0] if betas is not None else None


def _differs(a: float, b: float, base: float, rtol: float) -> bool:
    if a == b:
        return False
    scale = max(abs(a), abs(b), 1e-3 * abs(base))
    return abs(a - b) > rtol * scale


def legacy_schedule(
    cfg: Mapping[str, Any], optimizers: Any, length: TrainingLength, iters_per_epoch: int
) -> LegacySchedule:
    """The 0.x hooks of ``cfg`` over ``optimizers`` (one, or a dict for GANs)."""
    try:
        return LegacySchedule(
            optimizers,
            cfg.get("lr_config"),
            cfg.get("momentum_config"),
            by_epoch_runner=length.by_epoch,
            max_epochs=length.max_epochs,
            max_iters=length.max_iters,
            iters_per_epoch=iters_per_epoch,
        )
    except LegacyScheduleError as exc:
        raise ScheduleUnavailable(f"0.x schedule: {exc}") from exc


def modern_schedule(
    cfg: Mapping[str, Any], optimizers: Any, length: TrainingLength, iters_per_epoch: int
) -> ScheduleLoop:
    """The 1.x ``param_scheduler`` of ``cfg`` over ``optimizers`` (one, or a dict of wrappers)."""
    return ScheduleLoop(
        optimizers,
        cfg.get("param_scheduler"),
        epoch_loop=length.by_epoch,
        max_epochs=length.max_epochs,
        max_iters=length.max_iters,
        iters_per_epoch=iters_per_epoch,
    )


def compare_schedules(
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    *,
    codebase: str = "",
    groups: Mapping[str, Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]] | None = None,
    group_names: Mapping[str, Sequence[str]] | None = None,
    iters_per_epoch: int | None = None,
    rtol: float = RTOL,
) -> ScheduleComparison:
    """Trace both whole schedules and compare them iteration by iteration.

    ``groups``: per optimizer key (``''`` single, else GAN module names), pairs of (0.x group,
    1.x group) dicts with ``lr`` and ``momentum``/``betas`` as the optimizers were built (default:
    :func:`groups_from_config`); ``group_names``: a label per pair (e.g. a parameter name).
    """
    length_per_epoch = iters_per_epoch or DEFAULT_ITERS_PER_EPOCH
    result = ScheduleComparison("not compared", length_per_epoch, rtol)
    result.old_description = _describe_old(old_cfg)
    result.new_description = _describe_new(new_cfg)
    if not _has_any(old_cfg, _OLD_KEYS) and not _has_any(new_cfg, _NEW_KEYS):
        result.reason = "neither config has a schedule or a training length"
        return result
    old_error = new_error = None
    try:
        result.old_length = legacy_length(old_cfg, codebase, length_per_epoch)
    except ScheduleUnavailable as exc:
        old_error = str(exc)
    try:
        result.new_length = modern_length(new_cfg, length_per_epoch)
    except ScheduleUnavailable as exc:
        new_error = str(exc)
    if old_error and new_error:
        result.reason = f"0.x: {old_error}; 1.x: {new_error}"
        return result
    if old_error or new_error:
        result.status = "different"
        known = result.old_length or result.new_length
        assert known is not None
        side = "0.x" if result.old_length else "1.x"
        result.length_difference = (
            f"training length: {side} trains {known.text()}; "
            f"{'1.x' if old_error is None else '0.x'}: {new_error or old_error}"
        )
        return result
    old_len, new_len = result.old_length, result.new_length
    assert old_len is not None and new_len is not None
    if old_len.max_iters != new_len.max_iters or old_len.by_epoch != new_len.by_epoch:
        result.length_difference = (
            f"training length: 0.x {old_len.text()} vs 1.x {new_len.text()}"
            + (
                f" (iters_per_epoch={length_per_epoch})"
                if old_len.by_epoch or new_len.by_epoch
                else ""
            )
        )
    pairs = groups if groups is not None else groups_from_config(old_cfg, new_cfg)
    if not pairs:
        result.reason = "no optimizer shared by both configs"
        result.status = "different" if result.length_difference else "not compared"
        return result
    try:
        _trace(result, old_cfg, new_cfg, pairs, group_names or {})
    except ScheduleUnavailable as exc:
        result.reason = str(exc)
        result.notes.append(str(exc))
        result.status = "different" if result.length_difference else "not compared"
        return result
    result.status = (
        "different" if result.length_difference or result.first_difference else "identical"
    )
    return result


def _trace(
    result: ScheduleComparison,
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    pairs: Mapping[str, Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]],
    names: Mapping[str, Sequence[str]],
) -> None:
    keys = list(pairs)
    single = keys == [""]
    old_opts = {k: _optimizer([p[0] for p in pairs[k]], k) for k in keys}
    new_opts = {k: _optimizer([p[1] for p in pairs[k]], k) for k in keys}
    old_sched = legacy_schedule(
        old_cfg, old_opts[""] if single else old_opts, result.old_length, result.iters_per_epoch
    )
    new_sched = modern_schedule(
        new_cfg, new_opts[""] if single else new_opts, result.new_length, result.iters_per_epoch
    )
    total = min(old_sched.max_iters, new_sched.max_iters)
    # Neither side schedules anything: every iteration uses the built values, so iteration 0
    # stands for all of them (a 1.5M-iteration GAN run needs no loop).
    constant = not old_sched.hooks and not new_sched.param_scheduler
    steps = min(total, 1) if constant else total
    rtol = result.rtol
    per_epoch = result.iters_per_epoch if result.old_length.by_epoch else None
    # (old group, new group, label, base lr, momentum key, base momentum)
    rows = []
    for k in keys:
        for i, (og, ng) in enumerate(zip(old_opts[k].param_groups, new_opts[k].param_groups)):
            label = names.get(k, [])[i] if i < len(names.get(k, [])) else ""
            if not label:
                label = f"{k or 'model'} group {i}"
            mkey = "momentum" if "momentum" in og else "betas" if "betas" in og else None
            rows.append((og, ng, label, og["lr"], mkey, _momentum(og)))
    found: list[dict[str, Any]] = []

    def record(it: int, label: str, key: str, x: float, y: float, base: float) -> None:
        rel = abs(x - y) / max(abs(x), abs(y), 1e-3 * abs(base))
        if found and rel <= found[-1]["relative"]:
            return
        found.append(
            {
                "iteration": it,
                "epoch": it // per_epoch if per_epoch else None,
                "group": label,
                "key": key,
                "old": x,
                "new": y,
                "relative": rel,
            }
        )

    count = 0
    try:
        for it, _ in zip(old_sched.iterations(steps), new_sched.iterations(steps)):
            count += 1
            # Hot loop (160k iterations): plain comparisons first, arithmetic only on change.
            for og, ng, label, base_lr, mkey, base_m in rows:
                a = og["lr"]
                b = ng["lr"]
                # |a - b| <= rtol·|a| already passes (the scale is at least |a|).
                if a != b and abs(a - b) > rtol * abs(a) and _differs(a, b, base_lr, rtol):
                    record(it, label, "lr", a, b, base_lr)
                if mkey is not None and og.get(mkey) != ng.get(mkey):
                    x, y = _momentum(og), _momentum(ng)
                    if x is not None and y is not None and _differs(x, y, base_m, rtol):
                        record(it, label, "momentum", x, y, base_m)
    except Exception as exc:  # noqa: BLE001 - a schedule fails as it would upstream
        raise ScheduleUnavailable(
            f"{_failing_side(exc)} schedule fails at iteration {count}: {type(exc).__name__}: {exc}"
        ) from exc
    first = found[0] if found else None
    worst = found[-1] if found else None
    result.compared_iterations = total if constant and count else count
    result.first_difference = first
    result.max_deviation = worst


def _failing_side(exc: BaseException) -> str:
    """Which runtime raised: the innermost frame of ours in the traceback tells."""
    side = "a"
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith("lr_hooks.py"):
            side = "the 0.x"
        elif name.endswith("schedulers.py"):
            side = "the 1.x"
        tb = tb.tb_next
    return side


# -- driving a smoke-train -----------------------------------------------------------------------


def smoke_schedules(
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    old_optimizers: Any,
    new_optimizers: Any,
    *,
    codebase: str,
    iters_per_epoch: int | None = None,
) -> tuple[Callable[[int], None] | None, Callable[[int], None] | None, list[str]]:
    """Per-iteration callbacks that write each side's scheduled lr/momentum into its real
    optimizers (one optimizer, or a dict of them), and notes on what could not be scheduled.

    A callback is None where that side has no schedule to apply (its lr stays as built).
    """
    per_epoch = iters_per_epoch or DEFAULT_ITERS_PER_EPOCH
    notes: list[str] = []
    callbacks: list[Callable[[int], None] | None] = []
    for side, cfg, opts, keys in (
        ("0.x", old_cfg, old_optimizers, ("lr_config", "momentum_config")),
        ("1.x", new_cfg, new_optimizers, ("param_scheduler",)),
    ):
        if not _has_any(cfg, keys):
            callbacks.append(None)
            continue
        try:
            if side == "0.x":
                length = legacy_length(cfg, codebase, per_epoch)
                gen = legacy_schedule(cfg, opts, length, per_epoch).iterations()
            else:
                length = modern_length(cfg, per_epoch)
                gen = modern_schedule(cfg, opts, length, per_epoch).iterations()
        except (ScheduleUnavailable, ValueError, TypeError, KeyError) as exc:
            notes.append(f"{side}: the smoke-train runs at the built lr: {exc}")
            callbacks.append(None)
            continue
        callbacks.append(_advance(side, gen, notes))
    return callbacks[0], callbacks[1], notes


def _advance(side: str, gen: Iterator[int], notes: list[str]) -> Callable[[int], None]:
    state = {"done": False}

    def before_iteration(i: int) -> None:
        if state["done"]:
            return
        try:
            next(gen)
        except StopIteration:
            state["done"] = True
        except Exception as exc:  # noqa: BLE001 - the schedule fails mid-run: keep the values
            state["done"] = True
            notes.append(f"{side}: schedule stopped at iteration {i}: {type(exc).__name__}: {exc}")

    return before_iteration
