"""Diff two :class:`~migrate_optim.verify.trace.SideTrace` objects into observations.

Every difference found is a :class:`Observation` of one ``kind``:

* ``structure`` — different optimizer keys (GAN modules) on the two sides;
* ``coverage`` — a parameter optimised on one side only (parameters frozen when the optimizer
  is built are absent in 1.x by design: a *note*, as long as training leaves them unchanged);
* ``optimizer`` / ``hyperparameter`` — optimizer class, or one group hyper-parameter (``lr``,
  ``weight_decay``, ``momentum``, ``betas``, ``eps``, ...), grouped over the parameters that share
  the same change;
* ``clip``, ``accumulation``, ``loss_scale`` — per optimizer settings;
* ``steps`` — the iterations at which an optimizer stepped;
* ``values`` — parameters or buffers whose values after training differ by more than the
  relative tolerance (max-abs difference over max-abs value, per tensor).

Notes (kind ``note``) explain expected asymmetries; they do not make the pair different.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from migrate_optim.verify.trace import ModuleSettings, SideTrace, jsonable

__all__ = ["Observation", "ParamRow", "compare_traces", "module_label", "rel_diff"]


def module_label(module: str) -> str:
    """How an optimizer key is shown (``''``, the single optimizer, is ``model``)."""
    return module or "model"


@dataclass
class Observation:
    """One difference (or note): what, where, the 0.x and 1.x values, and a sentence."""

    kind: str
    subject: str
    message: str
    key: str | None = None
    old: Any = None
    new: Any = None
    params: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "key": self.key,
            "old": jsonable(self.old),
            "new": jsonable(self.new),
            "message": self.message,
            "params": list(self.params),
        }


@dataclass
class ParamRow:
    """One parameter's settings on both sides and its final-value difference."""

    name: str
    module: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    rel_diff: float | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "module": self.module,
            "old": jsonable(self.old),
            "new": jsonable(self.new),
            "rel_diff": jsonable(self.rel_diff),
            "status": self.status,
        }


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max|a-b| / max(max|a|, max|b|)`` in float64 (``inf`` for different shapes)."""
    if a.shape != b.shape:
        return math.inf
    if a.numel() == 0:
        return 0.0
    a64, b64 = a.double(), b.double()
    finite = torch.isfinite(a64) & torch.isfinite(b64)
    if not bool(finite.all()):
        same = torch.equal(a64.nan_to_num(), b64.nan_to_num()) and torch.equal(
            torch.isnan(a64), torch.isnan(b64)
        )
        return 0.0 if same else math.inf
    scale = float(torch.maximum(a64.abs().max(), b64.abs().max()))
    diff = float((a64 - b64).abs().max())
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 else math.inf


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) or a == b
    return a == b


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    return "unset" if value is None else str(value)


def _steps_text(steps: list[int]) -> str:
    if len(steps) > 12:
        return f"{len(steps)} steps: {steps[:6]} ... {steps[-3:]}"
    return f"{len(steps)} steps at {steps}"


def _settings_observations(
    module: str, old: ModuleSettings, new: ModuleSettings
) -> Iterable[Observation]:
    where = module_label(module)
    if not _same_value(old.clip, new.clip):
        yield Observation(
            "clip",
            where,
            f"{where}: gradient clipping {_fmt(old.clip)} (0.x) vs {_fmt(new.clip)} (1.x)",
            "clip",
            old.clip,
            new.clip,
        )
    if old.accumulation != new.accumulation:
        yield Observation(
            "accumulation",
            where,
            f"{where}: gradients accumulated over {old.accumulation} (0.x) vs "
            f"{new.accumulation} (1.x) iterations per update",
            "accumulation",
            old.accumulation,
            new.accumulation,
        )
    if not _same_value(old.amp, new.amp):
        yield Observation(
            "loss_scale",
            where,
            f"{where}: mixed precision / loss scale {_fmt(old.amp)} (0.x) vs {_fmt(new.amp)} (1.x)",
            "amp",
            old.amp,
            new.amp,
        )


def compare_traces(
    old: SideTrace, new: SideTrace, *, rtol: float, steps: int
) -> tuple[list[Observation], list[Observation], list[ParamRow]]:
    """``(differences, notes, parameter rows)`` of two traces of the same model."""
    diffs: list[Observation] = []
    notes: list[Observation] = []

    old_modules, new_modules = set(old.modules), set(new.modules)
    if old_modules != new_modules:
        diffs.append(
            Observation(
                "structure",
                "*",
                f"optimizers differ: 0.x has {sorted(map(module_label, old_modules))}, 1.x has "
                f"{sorted(map(module_label, new_modules))}",
                "optimizers",
                sorted(old_modules),
                sorted(new_modules),
            )
        )

    # Parameter values after training (needed for the frozen-parameter rule below).
    value_diff: dict[str, float] = {}
    for name in sorted(set(old.values) | set(new.values)):
        a, b = old.values.get(name), new.values.get(name)
        value_diff[name] = math.inf if a is None or b is None else rel_diff(a, b)

    rows: list[ParamRow] = []
    grouped: dict[tuple, list[str]] = {}
    param_names = list(dict.fromkeys([*old.params, *new.params]))
    frozen_only_old: set[str] = set()
    for name in param_names:
        po, pn = old.params.get(name), new.params.get(name)
        diff = value_diff.get(name)
        module = (po or pn).module  # type: ignore[union-attr]
        row_old = {"optimizer": po.optimizer, **po.hyper} if po else None
        row_new = {"optimizer": pn.optimizer, **pn.hyper} if pn else None
        status = "ok"
        if po and pn:
            if po.module != pn.module:
                grouped.setdefault(
                    ("module", "", "optimizer key", po.module, pn.module), []
                ).append(name)
                status = "different"
            if po.optimizer != pn.optimizer:
                grouped.setdefault(
                    ("optimizer", module, "type", po.optimizer, pn.optimizer), []
                ).append(name)
                status = "different"
            for key in sorted(set(po.hyper) | set(pn.hyper)):
                vo, vn = po.hyper.get(key), pn.hyper.get(key)
                if not _same_value(vo, vn):
                    hashable = (
                        "hyperparameter",
                        module,
                        key,
                        repr(vo),
                        repr(vn),
                    )
                    grouped.setdefault(hashable, []).append(name)
                    status = "different"
        elif po and name in new.frozen_at_build:
            frozen_only_old.add(name)
            status = "frozen"
        else:
            side = "0.x" if po else "1.x"
            other = "1.x" if po else "0.x"
            diffs.append(
                Observation(
                    "coverage",
                    name,
                    f"{name}: optimised by {side} only ({other} has no optimizer for it)",
                    "optimized",
                    po is not None,
                    pn is not None,
                    [name],
                )
            )
            status = f"only-{side}"
        if diff is not None and diff > rtol and status in ("ok", "different"):
            status = "different"
        rows.append(ParamRow(name, module, row_old, row_new, diff, status))

    for (kind, module, key, _vo, _vn), names in grouped.items():
        where = module_label(module)
        first = names[0]
        po, pn = old.params[first], new.params[first]
        if kind == "hyperparameter":
            old_value, new_value = po.hyper.get(key), pn.hyper.get(key)
        elif kind == "optimizer":
            old_value, new_value = po.optimizer, pn.optimizer
        else:
            old_value, new_value = po.module, pn.module
            kind = "structure"
        count = len(names)
        scope = f"{count} parameter{'s' if count != 1 else ''}"
        subject = where if count > 1 else first
        diffs.append(
            Observation(
                kind,
                subject,
                f"{where}: {key} {_fmt(old_value)} (0.x) vs {_fmt(new_value)} (1.x) for {scope}"
                + (f" ({first})" if count == 1 else f" (e.g. {first})"),
                key,
                old_value,
                new_value,
                names,
            )
        )

    for name in sorted(frozen_only_old):
        diff = value_diff.get(name, math.inf)
        if diff == 0.0:
            notes.append(
                Observation(
                    "note",
                    name,
                    f"{name}: frozen when the optimizer is built: held by the 0.x optimizer, "
                    "absent in 1.x by design (docs/paramwise.md#frozen-parameters); unchanged by "
                    "training",
                    "frozen",
                )
            )
        else:
            diffs.append(
                Observation(
                    "coverage",
                    name,
                    f"{name}: frozen when the optimizers are built, yet 0.x changed it during "
                    "training"
                    + (
                        " (the 0.x GAN train_step unfreezes the whole discriminator)"
                        if name in old.unfrozen_by_schedule
                        else ""
                    )
                    + "; 1.x skips frozen parameters at build and never optimises it "
                    "(docs/paramwise.md#frozen-parameters)",
                    "frozen",
                    True,
                    False,
                    [name],
                )
            )

    for module in sorted(old_modules & new_modules):
        diffs.extend(_settings_observations(module, old.modules[module], new.modules[module]))

    for module in sorted(set(old.steps) | set(new.steps)):
        so, sn = old.steps.get(module, []), new.steps.get(module, [])
        if so != sn:
            where = module_label(module)
            diffs.append(
                Observation(
                    "steps",
                    where,
                    f"{where}: optimizer steps differ: 0.x {_steps_text(so)}; "
                    f"1.x {_steps_text(sn)}",
                    "steps",
                    so,
                    sn,
                )
            )

    bad = {n: d for n, d in value_diff.items() if d > rtol and n not in frozen_only_old}
    if bad:
        by_module: dict[str, list[str]] = {}
        for name in bad:
            head = name.split(".", 1)[0]
            module = head if head in (old_modules | new_modules) else ""
            by_module.setdefault(module, []).append(name)
        for module, names in sorted(by_module.items()):
            worst = max(names, key=lambda n: bad[n])
            where = module_label(module)
            diffs.append(
                Observation(
                    "values",
                    where,
                    f"{where}: {len(names)} tensor{'s' if len(names) != 1 else ''} differ after "
                    f"{steps} steps (max relative difference {bad[worst]:.3g} at {worst}; "
                    f"tolerance {rtol:g})",
                    "values",
                    None,
                    None,
                    sorted(names),
                )
            )
    return diffs, notes, rows
