"""``verify``: train a 0.x config and a 1.x config side by side and report every difference.

Loading EXECUTES both config files (and their ``_base_`` files), as mmcv's and MMEngine's
``Config.fromfile`` do: only verify configs you trust.

Flow of :func:`verify_files` / :func:`verify_configs`:

1. load OLD as 0.x and NEW as 1.x (:func:`migrate_optim.config.load_config`); detect OLD's
   codebase statically (or take ``codebase``) and plan each side (:mod:`.plan`);
2. build one model (the probe, or ``model='module:factory'``), copy it for each side;
3. build each side's optimizers (0.x: :mod:`.legacy_side`, 1.x: :mod:`.modern_side`) and choose
   the number of iterations ``N`` from their accumulation / schedule periods unless given;
4. train both for ``N`` iterations on the same data (same seed), in this process or under
   ``torch.distributed`` with ``nproc`` processes (:mod:`.distributed`);
5. compare (:mod:`.compare`) into a :class:`~migrate_optim.verify.report.VerifyReport`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from migrate_optim.verify.per_scale import (
    PGGAN_TYPES,
    SINGAN_TYPES,
    compare_pggan,
    compare_singan,
)
from migrate_optim.verify.plan import (
    DIFFUSION_TYPES,
    NewPlan,
    NotVerifiable,
    OldPlan,
    Unsupported,
    VerifyError,
    detect_codebase,
    plan_new,
    plan_old,
)
from migrate_optim.verify.report import VerifyReport
from migrate_optim.verify.trace import SideTrace, snapshot

__all__ = [
    "DEFAULT_STEPS",
    "MAX_AUTO_STEPS",
    "NotVerifiable",
    "VerifyError",
    "VerifyOptions",
    "choose_steps",
    "train_pair",
    "verify_configs",
    "verify_files",
]

DEFAULT_STEPS = 8
MAX_AUTO_STEPS = 256


@dataclass
class VerifyOptions:
    """Options of one verification (the ``verify`` command's flags).

    ``model``: ``'module:factory'`` or None for the probe; ``steps``: iterations (None: chosen
    from the configs); ``device``: ``'auto'``, ``'cpu'`` or ``'cuda'``; ``nproc``: processes
    (> 1 runs under ``torch.distributed``); ``codebase``: the 0.x codebase (None: detected);
    ``rtol``: relative tolerance on final values (None: 1e-6 for fp32 on CPU, 1e-5 on CUDA,
    1e-4 with ``nproc > 1``, 1e-3 with mixed precision); ``iters_per_epoch``: the loader length
    assumed for epoch-based schedules (None: :data:`~.schedule.DEFAULT_ITERS_PER_EPOCH`).
    """

    model: str | None = None
    steps: int | None = None
    device: str = "auto"
    nproc: int = 1
    codebase: str | None = None
    seed: int = 0
    rtol: float | None = None
    iters_per_epoch: int | None = None


def resolve_device(device: str) -> str:
    """``'auto'`` → ``'cuda'`` when available, else ``'cpu'``; ``'cuda'`` must be available."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise VerifyError("--device cuda: no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise VerifyError(f"unknown device {device!r} (auto, cpu or cuda)")
    return device


def choose_steps(requested: int | None, periods: list[int], offset: int = 0) -> tuple[int, str]:
    """The number of iterations and why: two full periods of every accumulation window and
    GAN round of both sides (lcm), plus half a period to exercise a partial tail window."""
    if requested is not None:
        if requested < 1:
            raise VerifyError(f"--steps must be >= 1, got {requested}")
        return requested, "as requested (--steps)"
    period = 1
    for p in periods:
        if p and p > 0:
            period = math.lcm(period, int(p))
    if period == 1:
        n = DEFAULT_STEPS + offset
        reason = "default: no accumulation or multi-iteration schedule in either config"
    else:
        n = offset + max(DEFAULT_STEPS, 2 * period) + period // 2
        reason = (
            f"chosen from the configs: lcm of the accumulation/schedule periods "
            f"{sorted({p for p in periods if p > 1})} is {period}; two full periods plus a "
            f"partial window of {period // 2}"
        )
    if offset:
        reason += f", after {offset} initial iterations (disc_init_steps)"
    if n > MAX_AUTO_STEPS:
        reason += f"; capped at {MAX_AUTO_STEPS} (pass --steps to train longer)"
        n = MAX_AUTO_STEPS
    return n, reason


class _Collect(logging.Handler):
    def __init__(self, label: str, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.label, self.into = label, into

    def emit(self, record: logging.LogRecord) -> None:
        self.add(record.getMessage())

    def add(self, message: str) -> None:
        text = f"{self.label} warned: {message.strip()}"
        if text not in self.into:
            self.into.append(text)


@contextlib.contextmanager
def _capture(label: str, into: list[str] | None = None) -> Iterator[list[str]]:
    """Collect the runtimes' log warnings and Python warnings as report notes (not stderr)."""
    into = [] if into is None else into
    handler = _Collect(label, into)
    logger = logging.getLogger("migrate_optim")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield into
        for item in caught:
            handler.add(str(item.message))
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    # A probe step costs ~4 ms with one thread and 30-40 ms with two (thread start-up dominates).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rtol(options: VerifyOptions, device: str, old: SideTrace, new: SideTrace) -> float:
    if options.rtol is not None:
        return options.rtol
    amp = any(m.amp for m in (*old.modules.values(), *new.modules.values()))
    if amp:
        return 1e-3
    if options.nproc > 1:
        # The sides all-reduce in a different order (every micro-batch vs once per window):
        # equal in exact arithmetic, not in float32, and Adam amplifies tiny gradients.
        return 1e-4
    return 1e-5 if device == "cuda" else 1e-6


def train_pair(
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    old_plan: OldPlan,
    new_plan: NewPlan,
    options: VerifyOptions,
    device: str,
    *,
    rank: int = 0,
    world: int = 1,
    wrap: Any = None,
    counters: tuple[Any, Any] | None = None,
) -> tuple[SideTrace, SideTrace, int, str]:
    """Build the model, both sides' optimizers, choose ``N``, train both; return the traces.

    ``wrap(model, plan_kind, module_keys) -> ModelDriver`` wraps the model for distributed runs
    (see :mod:`.distributed`); by default the driver calls the model directly. ``counters``
    (0.x, 1.x) get the trainers' step clocks as ``.clock`` (all-reduce counting per iteration).
    """
    from migrate_optim.verify.legacy_side import LegacyTrainer
    from migrate_optim.verify.models import ModelDriver, ModelError, build_model
    from migrate_optim.verify.modern_side import ModernTrainer

    gan_modules = tuple(old_plan.module_keys) if old_plan.kind in ("gan", "restorer") else ()
    try:
        base = build_model(options.model, old_cfg, new_cfg, options.seed, gan_modules)
    except ModelError as exc:
        raise VerifyError(str(exc)) from exc
    probe_notes = []
    if options.model is None and gan_modules and old_plan.kind == "gan":
        # Both versions' GAN train_steps call set_requires_grad on the whole discriminator, so a
        # frozen discriminator parameter cannot stay frozen: the probe's one would only measure
        # that (0.x trains it from the first iteration, 1.x from the first G round on).
        disc = base._modules[gan_modules[1]]
        unfrozen = [n for n, p in disc.named_parameters() if not p.requires_grad]
        for param in disc.parameters():
            param.requires_grad_(True)
        if unfrozen:
            probe_notes.append(
                f"probe: the frozen parameter of '{gan_modules[1]}' is made trainable: GAN "
                "train_steps (0.x and 1.x) unfreeze the whole discriminator"
            )
    base.to(device)
    base.train()
    models = {"old": copy.deepcopy(base), "new": copy.deepcopy(base)}
    drivers = {}
    for side, model in models.items():
        if wrap is not None:
            keys = old_plan.module_keys if side == "old" else new_plan.module_keys
            drivers[side] = wrap(model, old_plan.kind, keys)
        else:
            drivers[side] = ModelDriver(model, rank=rank, world=world)
    with _capture("OLD") as old_log:
        legacy = LegacyTrainer(old_cfg, old_plan, drivers["old"], distributed=world > 1)
    with _capture("NEW") as new_log:
        modern = ModernTrainer(new_cfg, new_plan, drivers["new"])
    if counters is not None:
        counters[0].clock, counters[1].clock = legacy.clock, modern.clock
    from migrate_optim.verify.schedule import smoke_schedules

    legacy.before_iteration, modern.before_iteration, schedule_notes = smoke_schedules(
        old_cfg,
        new_cfg,
        legacy.schedule_target(),
        modern.schedule_target(),
        codebase=old_plan.codebase,
        iters_per_epoch=options.iters_per_epoch,
    )
    steps, reason = choose_steps(
        options.steps, legacy.periods() + modern.periods(), max(legacy.offset(), modern.offset())
    )
    torch.manual_seed(options.seed + rank)
    with _capture("OLD", old_log):
        old_trace = legacy.train(steps)
    old_trace.values = snapshot(models["old"])
    torch.manual_seed(options.seed + rank)
    with _capture("NEW", new_log):
        new_trace = modern.train(steps)
    new_trace.values = snapshot(models["new"])
    old_trace.notes = probe_notes + old_trace.notes + old_log
    new_trace.notes += new_log + schedule_notes
    return old_trace, new_trace, steps, reason


def verify_configs(
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    options: VerifyOptions | None = None,
    *,
    old_path: str = "OLD",
    new_path: str = "NEW",
    codebase: str = "",
) -> VerifyReport:
    """Verify two loaded configs (see the module docstring); never raises for bad configs.

    Errors become a report with ``status='error'`` (exit 2); a pair with nothing to train
    (neither defines an optimizer) becomes ``status='skipped'``.
    """
    from migrate_optim.verify.compare import Observation, compare_traces

    options = options or VerifyOptions()
    report = VerifyReport(
        old_path, new_path, model=options.model or "probe", nproc=options.nproc, codebase=None
    )
    try:
        device = resolve_device(options.device)
        report.device = device
        old_model = old_cfg.get("model")
        if isinstance(old_model, Mapping) and old_model.get("type") in PGGAN_TYPES:
            diffs, notes = compare_pggan(old_cfg, new_cfg, options.seed)
            report.codebase = codebase or options.codebase or "mmgen"
            report.differences += diffs
            report.notes += notes
            report.steps_reason = "per-scale optimizers compared, no training (PGGAN)"
            return report.finalize()
        if isinstance(old_model, Mapping) and old_model.get("type") in SINGAN_TYPES:
            diffs, notes = compare_singan(old_cfg, new_cfg)
            report.codebase = codebase or options.codebase or "mmgen"
            report.differences += diffs
            report.notes += notes
            report.steps_reason = "per-scale optimizers compared, no training (SinGAN)"
            return report.finalize()
        old_plan = _plan_old_or_none(old_cfg, codebase or options.codebase or "")
        new_plan = _plan_new_or_none(
            new_cfg, restorer=old_plan is not None and old_plan.kind == "restorer"
        )
        if old_plan is not None and old_plan.kind == "restorer" and old_plan.model_type in (
            DIFFUSION_TYPES
        ):
            old_plan.notes.append(
                "OLD: the EMA of denoising (denoising_ema) is not compared for diffusion models"
            )
        if old_plan is None and new_plan is None:
            raise NotVerifiable("neither config defines an optimizer")
        if old_plan is None or new_plan is None:
            missing = "OLD defines no optimizer" if old_plan is None else "NEW has no optim_wrapper"
            raise VerifyError(f"{missing}, the other config does")
        report.codebase = old_plan.codebase
        old_plan.as_single = new_plan.kind == "single"
        restorer_note = _restorer_structure(old_plan, new_plan)
        if restorer_note is not None:
            report.differences.append(restorer_note)
            return report.finalize()
        if old_plan.kind != new_plan.kind and not (
            old_plan.kind == "restorer" and new_plan.kind == "single"
        ):
            kinds = {
                "single": "one optimizer",
                "gan": "one optimizer per GAN module",
                "restorer": "one optimizer per module, all stepped every iteration",
            }
            report.differences.append(
                Observation(
                    "structure",
                    "*",
                    f"0.x trains {kinds[old_plan.kind]}, 1.x {kinds[new_plan.kind]}: "
                    "not comparable by training",
                    "optimizers",
                    old_plan.kind,
                    new_plan.kind,
                )
            )
            return report.finalize()
        old_cfg, new_cfg = _float_betas(old_cfg), _float_betas(new_cfg)
        coerced = sorted({*old_cfg.pop(_COERCED), *new_cfg.pop(_COERCED)})
        if coerced:
            report.notes.append(
                Observation(
                    "note",
                    "*",
                    f"integer betas {coerced} read as floats on both sides: the torch of the "
                    "0.x era accepted them, this torch rejects mixed int/float betas",
                )
            )
        with _single_thread():
            if options.nproc > 1:
                from migrate_optim.verify.distributed import run_distributed

                old_trace, new_trace, steps, reason = run_distributed(
                    old_cfg, new_cfg, old_plan, new_plan, options, device, train_pair
                )
            else:
                old_trace, new_trace, steps, reason = train_pair(
                    old_cfg, new_cfg, old_plan, new_plan, options, device
                )
        report.old, report.new = old_trace, new_trace
        report.steps, report.steps_reason = steps, reason
        report.tolerance = _rtol(options, device, old_trace, new_trace)
        diffs, notes, rows = compare_traces(
            old_trace,
            new_trace,
            rtol=report.tolerance,
            steps=steps,
        )
        report.differences += diffs
        report.notes += [Observation("note", "*", n) for n in old_trace.notes + new_trace.notes]
        report.notes += notes
        report.params = rows
        _compare_schedules(report, old_cfg, new_cfg, old_trace, new_trace, options)
        _compare_ema(report, old_plan, old_trace, new_trace)
        if old_trace.allreduce is not None:
            report.notes.append(_allreduce_note(old_trace, new_trace))
        return report.finalize()
    except NotVerifiable as exc:
        report.status, report.error = "skipped", str(exc)
        return report
    except Unsupported as exc:
        report.status, report.error = "unsupported", str(exc)
        return report
    except VerifyError as exc:
        report.status, report.error = "error", str(exc)
        return report


def _schedule_pairs(
    old: SideTrace, new: SideTrace
) -> tuple[dict[str, list[tuple[dict, dict]]], dict[str, list[str]]]:
    """Distinct (0.x group, 1.x group) lr/momentum pairs per optimizer key, named by a parameter."""
    pairs: dict[str, list[tuple[dict, dict]]] = {}
    names: dict[str, list[str]] = {}
    seen: set[tuple[str, str, str]] = set()
    for name, po in old.params.items():
        pn = new.params.get(name)
        if pn is None or "lr" not in po.hyper or "lr" not in pn.hyper:
            continue
        og, ng = (
            {
                k: tuple(v) if k == "betas" else v
                for k, v in p.hyper.items()
                if k in ("lr", "momentum", "betas")
            }
            for p in (po, pn)
        )
        sig = (po.module, repr(sorted(og.items())), repr(sorted(ng.items())))
        if sig in seen:
            continue
        seen.add(sig)
        pairs.setdefault(po.module, []).append((og, ng))
        names.setdefault(po.module, []).append(f"param group of '{name}'")
    return pairs, names


def _compare_schedules(
    report: VerifyReport,
    old_cfg: Mapping[str, Any],
    new_cfg: Mapping[str, Any],
    old: SideTrace,
    new: SideTrace,
    options: VerifyOptions,
) -> None:
    """Add the whole-schedule comparison (docs/schedules.md) to ``report``."""
    from migrate_optim.verify.compare import Observation
    from migrate_optim.verify.schedule import compare_schedules

    pairs, names = _schedule_pairs(old, new)
    result = compare_schedules(
        old_cfg,
        new_cfg,
        codebase=report.codebase or "",
        groups=pairs,
        group_names=names,
        iters_per_epoch=options.iters_per_epoch,
    )
    report.schedule = result
    for key, message in result.messages():
        detail = result.first_difference if key != "length" else None
        report.differences.append(
            Observation(
                "schedule",
                "*",
                f"schedule: {message}",
                key,
                detail["old"] if detail else (result.old_length and result.old_length.text()),
                detail["new"] if detail else (result.new_length and result.new_length.text()),
            )
        )
    if result.status == "not compared":
        report.notes.append(Observation("note", "*", f"schedule not compared: {result.reason}"))
    for note in result.notes:
        if note != result.reason:
            report.notes.append(Observation("note", "*", f"schedule: {note}"))


_COERCED = "__verify_coerced_betas__"


def _float_betas(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``cfg`` whose integer ``betas`` entries are floats (recorded under _COERCED).

    mmgen's StyleGAN2 configs write ``betas=(0, 0.99 ** ratio)``; torch >= 2.x refuses a
    mixed int/float pair, which older torch accepted with the same numerical meaning.
    """
    found: list[str] = []

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            out = {}
            for key, value in node.items():
                if (
                    key == "betas"
                    and isinstance(value, (list, tuple))
                    and any(type(v) is int for v in value)
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                ):
                    found.append(repr(tuple(value)))
                    value = type(value)(float(v) for v in value)
                out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, tuple):
            return tuple(walk(v) for v in node)
        return node

    result = walk(cfg)
    result[_COERCED] = found
    return result


def _compare_ema(report: VerifyReport, plan: OldPlan, old: SideTrace, new: SideTrace) -> None:
    """Compare the EMA generators of both sides (:mod:`.ema`), if either side averages."""
    from migrate_optim.verify.compare import Observation
    from migrate_optim.verify.ema import compare_ema

    if old.ema_cfg is None and new.ema_cfg is None:
        return
    if old.ema is None or new.ema is None:
        if old.ema_cfg is not None and new.ema_cfg is not None:
            return  # one side's EMA is not modelled: said in its notes
        only = (
            "0.x (custom_hooks ExponentialMovingAverageHook)"
            if old.ema_cfg
            else ("1.x (model.ema_config)")
        )
        report.differences.append(
            Observation("ema", "generator_ema", f"EMA is configured on {only} only", "ema_config")
        )
        return
    period = int(plan.train_cfg.get("disc_steps", 1) or 1)
    diffs, notes = compare_ema(old.ema, new.ema, old.ema_cfg, new.ema_cfg, period, report.tolerance)
    if diffs and diffs[0].key == "ema_config" and old.ema_alt is not None:
        alt, _ = compare_ema(
            old.ema_alt, new.ema, old.ema_cfg, new.ema_cfg, period, report.tolerance
        )
        if not alt:
            notes = [
                Observation(
                    "note",
                    "generator_ema",
                    "EMA weights differ only by MMagic's first "
                    "update, which copies the generator where the 0.x hook averaged "
                    "(convert's MO207 warning); with that copy they agree",
                )
            ]
            diffs = []
    report.differences += diffs
    report.notes += notes


def _allreduce_note(old: SideTrace, new: SideTrace) -> Any:
    from migrate_optim.verify.compare import Observation

    o, n = old.allreduce or [], new.allreduce or []
    return Observation(
        "note",
        "*",
        f"DDP gradient all-reduce calls: 0.x {sum(o)} over {len(o)} iterations "
        f"(every backward: mmcv's hooks never use no_sync), 1.x {sum(n)} "
        f"(optim_context skips the all-reduce on iterations that do not update); "
        f"per iteration 0.x {o}, 1.x {n}",
        "allreduce",
        o,
        n,
    )


def _plan_old_or_none(cfg: Mapping[str, Any], codebase: str) -> OldPlan | None:
    try:
        return plan_old(cfg, codebase)
    except NotVerifiable:
        return None


def _restorer_structure(old: OldPlan, new: NewPlan) -> Any:
    """A finding when a 1.x editing model cannot step the wrappers its config builds."""
    from migrate_optim.verify.compare import Observation

    if old.kind != "restorer" or new.kind != "restorer" or new.family != "base_model":
        return None
    return Observation(
        "structure",
        "*",
        f"1.x {new.model_type} trains through MMEngine's BaseModel.train_step, which calls "
        "optim_wrapper.update_params: an OptimWrapperDict refuses it (NotImplementedError); "
        "build one wrapper instead (e.g. MultiOptimWrapperConstructor with "
        f"modules={list(new.module_keys)!r} and one optimizer)",
        "optim_wrapper",
        list(old.module_keys),
        list(new.module_keys),
    )


def _plan_new_or_none(cfg: Mapping[str, Any], restorer: bool = False) -> NewPlan | None:
    try:
        return plan_new(cfg, restorer)
    except NotVerifiable:
        return None


def verify_files(
    old_path: str | Path,
    new_path: str | Path,
    options: VerifyOptions | None = None,
    *,
    detect_path: str | Path | None = None,
    old_name: str | None = None,
    new_name: str | None = None,
) -> VerifyReport:
    """Load OLD (0.x) and NEW (1.x) from files and :func:`verify_configs` them.

    ``detect_path``: where OLD really lives when ``old_path`` is a temporary copy (its folder
    names tell the codebase). ``old_name``/``new_name``: how the files are named in the report.
    """
    from migrate_optim.config import ConfigError, load_config

    options = options or VerifyOptions()
    old_path, new_path = Path(old_path), Path(new_path)
    old_shown = old_name or str(old_path)
    new_shown = new_name or str(new_path)
    configs = []
    for label, path in (("OLD", old_path), ("NEW", new_path)):
        try:
            configs.append(load_config(str(path)))
        except ConfigError as exc:
            return _error(old_shown, new_shown, options, f"{label}: {_one_line(exc)}")
        except Exception as exc:  # noqa: BLE001 - executing a config can raise anything
            return _error(
                old_shown, new_shown, options, f"{label}: {path}: {type(exc).__name__}: {exc}"
            )
    codebase = detect_codebase(
        old_path, options.codebase, Path(detect_path) if detect_path else None
    )
    return verify_configs(
        configs[0],
        configs[1],
        options,
        old_path=old_shown,
        new_path=new_shown,
        codebase=codebase,
    )


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _error(old: str, new: str, options: VerifyOptions, message: str) -> VerifyReport:
    report = VerifyReport(old, new, model=options.model or "probe", nproc=options.nproc)
    report.status, report.error = "error", _one_line(Exception(message))
    return report
