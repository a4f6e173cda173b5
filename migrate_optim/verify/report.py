"""The result of ``verify``: :class:`VerifyReport`, its JSON form (and schema), a rich view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from migrate_optim.verify.compare import Observation, ParamRow, module_label
from migrate_optim.verify.schedule import ScheduleComparison
from migrate_optim.verify.trace import SideTrace, jsonable

__all__ = ["REPORT_SCHEMA", "SCHEMA_VERSION", "VerifyReport", "render"]

SCHEMA_VERSION = 1

_FINDING = {
    "type": "object",
    "required": ["kind", "subject", "key", "old", "new", "message", "params"],
    "properties": {
        "kind": {
            "type": "string",
            "enum": [
                "structure",
                "coverage",
                "optimizer",
                "hyperparameter",
                "clip",
                "accumulation",
                "loss_scale",
                "steps",
                "values",
                "schedule",
                "note",
            ],
        },
        "subject": {"type": "string"},
        "key": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "params": {"type": "array", "items": {"type": "string"}},
    },
}
_SIDE = {
    "type": "object",
    "required": ["path", "schedule", "modules", "steps", "allreduce"],
    "properties": {
        "path": {"type": "string"},
        "schedule": {"type": "object"},
        "modules": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["optimizer", "clip", "accumulation", "amp", "source"],
                "properties": {
                    "optimizer": {"type": "string"},
                    "clip": {"type": ["object", "null"]},
                    "accumulation": {"type": "integer"},
                    "amp": {"type": ["object", "null"]},
                    "source": {"type": "string"},
                },
            },
        },
        "steps": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "integer"}},
        },
        "allreduce": {"type": ["array", "null"], "items": {"type": "integer"}},
    },
}
#: JSON Schema (draft 2020-12 subset) of :meth:`VerifyReport.to_dict`.
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "schema_version",
        "status",
        "equivalent",
        "exit_code",
        "error",
        "old",
        "new",
        "model",
        "codebase",
        "steps",
        "steps_reason",
        "device",
        "nproc",
        "tolerance",
        "differences",
        "notes",
        "params",
        "schedule",
    ],
    "properties": {
        "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
        "status": {
            "type": "string",
            "enum": ["equivalent", "different", "error", "skipped", "unsupported"],
        },
        "equivalent": {"type": ["boolean", "null"]},
        "exit_code": {"type": "integer", "enum": [0, 1, 2, 3]},
        "error": {"type": ["string", "null"]},
        "old": {"oneOf": [_SIDE, {"type": "object"}]},
        "new": {"oneOf": [_SIDE, {"type": "object"}]},
        "model": {"type": "string"},
        "codebase": {"type": ["string", "null"]},
        "steps": {"type": "integer"},
        "steps_reason": {"type": "string"},
        "device": {"type": "string"},
        "nproc": {"type": "integer"},
        "tolerance": {"type": "number"},
        "differences": {"type": "array", "items": _FINDING},
        "schedule": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": [
                        "status",
                        "reason",
                        "iters_per_epoch",
                        "rtol",
                        "old_length",
                        "new_length",
                        "length_difference",
                        "compared_iterations",
                        "first_difference",
                        "max_deviation",
                    ],
                    "properties": {
                        "status": {
                            "type": "string",
                            "enum": ["identical", "different", "not compared"],
                        },
                        "iters_per_epoch": {"type": "integer"},
                        "compared_iterations": {"type": "integer"},
                        "first_difference": {"type": ["object", "null"]},
                        "max_deviation": {"type": ["object", "null"]},
                    },
                },
            ]
        },
        "notes": {"type": "array", "items": _FINDING},
        "params": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "module", "old", "new", "rel_diff", "status"],
                "properties": {
                    "name": {"type": "string"},
                    "module": {"type": "string"},
                    "old": {"type": ["object", "null"]},
                    "new": {"type": ["object", "null"]},
                    "rel_diff": {"type": ["number", "string", "null"]},
                    "status": {
                        "type": "string",
                        "enum": ["ok", "different", "frozen", "only-0.x", "only-1.x"],
                    },
                },
            },
        },
    },
}


@dataclass
class VerifyReport:
    """Outcome of verifying one (OLD, NEW) pair.

    ``status``: ``equivalent`` (exit 0), ``different`` (exit 1), ``error`` (exit 2, ``error``
    holds the one-line message), ``unsupported`` (exit 3: the 0.x codebase trains in a way
    verify does not model; ``error`` holds why) or ``skipped`` (nothing to train, exit 0; only
    ``convert --verify`` reports it, ``verify`` treats it as an error).
    """

    old_path: str
    new_path: str
    status: str = "equivalent"
    error: str | None = None
    model: str = "probe"
    codebase: str | None = None
    steps: int = 0
    steps_reason: str = ""
    device: str = "cpu"
    nproc: int = 1
    tolerance: float = 1e-6
    differences: list[Observation] = field(default_factory=list)
    notes: list[Observation] = field(default_factory=list)
    params: list[ParamRow] = field(default_factory=list)
    old: SideTrace | None = None
    new: SideTrace | None = None
    schedule: ScheduleComparison | None = None

    @property
    def equivalent(self) -> bool | None:
        """True/False once compared; None for an error or a skipped pair."""
        if self.status in ("error", "skipped", "unsupported"):
            return None
        return not self.differences

    @property
    def exit_code(self) -> int:
        """0 equivalent (or skipped), 1 different, 2 error, 3 unsupported."""
        if self.status == "error":
            return 2
        if self.status == "unsupported":
            return 3
        return 1 if self.differences else 0

    def finalize(self) -> VerifyReport:
        """Set ``status`` from the differences (after a comparison)."""
        if self.status not in ("error", "skipped", "unsupported"):
            self.status = "different" if self.differences else "equivalent"
        return self

    def _side(self, trace: SideTrace | None, path: str) -> dict[str, Any]:
        if trace is None:
            return {"path": path}
        return {
            "path": path,
            "schedule": jsonable(trace.schedule),
            "modules": {
                key: {
                    "optimizer": m.optimizer,
                    "clip": jsonable(m.clip),
                    "accumulation": m.accumulation,
                    "amp": jsonable(m.amp),
                    "source": m.source,
                }
                for key, m in trace.modules.items()
            },
            "steps": {key: list(v) for key, v in trace.steps.items()},
            "allreduce": list(trace.allreduce) if trace.allreduce is not None else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see :data:`REPORT_SCHEMA`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "equivalent": self.equivalent,
            "exit_code": self.exit_code,
            "error": self.error,
            "old": self._side(self.old, self.old_path),
            "new": self._side(self.new, self.new_path),
            "model": self.model,
            "codebase": self.codebase,
            "steps": self.steps,
            "steps_reason": self.steps_reason,
            "device": self.device,
            "nproc": self.nproc,
            "tolerance": self.tolerance,
            "differences": [f.to_dict() for f in self.differences],
            "notes": [f.to_dict() for f in self.notes],
            "params": [r.to_dict() for r in self.params],
            "schedule": self.schedule.to_dict() if self.schedule is not None else None,
        }

    def summary_line(self) -> str:
        """One line: verdict and the pair."""
        if self.status == "error":
            return f"error: {self.error}"
        if self.status == "skipped":
            return f"skipped {self.new_path}: {self.error}"
        if self.status == "unsupported":
            return f"unsupported: {self.error}"
        if self.differences:
            n = len(self.differences)
            return f"DIFFERENT: {self.old_path} vs {self.new_path}: {n} difference{'s' * (n != 1)}"
        return f"EQUIVALENT: {self.old_path} vs {self.new_path} ({self.steps} steps)"


# ---------------------------------------------------------------------------------------------
# rich rendering

# Always shown; any other hyper-parameter only where the sides differ.
_HYPER_ORDER = ("lr", "weight_decay", "momentum", "betas", "eps")


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items())
    return str(value)


def _pair(a: Any, b: Any) -> Text:
    if a == b:
        return Text(_short(a))
    return Text(f"{_short(a)} → {_short(b)}", style="bold red")


def _param_table(report: VerifyReport) -> Table:
    keys: list[str] = []
    for row in report.params:
        for side in (row.old, row.new):
            for key in side or {}:
                if key not in keys and key != "optimizer":
                    keys.append(key)
    shown = [k for k in _HYPER_ORDER if k in keys] + [
        k
        for k in keys
        if k not in _HYPER_ORDER
        and any((r.old or {}).get(k) != (r.new or {}).get(k) for r in report.params)
    ]
    table = Table(title="Parameters (0.x → 1.x where they differ)", title_justify="left")
    table.add_column("parameter", no_wrap=True)
    table.add_column("optimizer")
    for key in shown:
        table.add_column(key)
    table.add_column("rel. diff", justify="right")
    table.add_column("status")
    for row in report.params:
        cells: list[Any] = [row.name]
        old, new = row.old or {}, row.new or {}
        cells.append(_pair(old.get("optimizer"), new.get("optimizer")))
        for key in shown:
            cells.append(_pair(old.get(key), new.get(key)))
        diff = "-" if row.rel_diff is None else "0" if row.rel_diff == 0 else f"{row.rel_diff:.1e}"
        cells.append(diff)
        style = {"ok": "green", "frozen": "dim"}.get(row.status, "bold red")
        cells.append(Text(row.status, style=style))
        table.add_row(*cells)
    return table


def _module_table(report: VerifyReport) -> Table:
    table = Table(title="Optimizers", title_justify="left")
    for column in ("optimizer", "source (0.x → 1.x)", "clip", "accumulation", "amp", "steps"):
        table.add_column(column, overflow="fold")
    old, new = report.old, report.new
    assert old is not None and new is not None
    for key in sorted(set(old.modules) | set(new.modules)):
        mo, mn = old.modules.get(key), new.modules.get(key)
        so, sn = old.steps.get(key), new.steps.get(key)
        table.add_row(
            module_label(key),
            f"{mo.source if mo else '-'} → {mn.source if mn else '-'}",
            _pair(mo.clip if mo else None, mn.clip if mn else None),
            _pair(mo.accumulation if mo else None, mn.accumulation if mn else None),
            _pair(mo.amp if mo else None, mn.amp if mn else None),
            _pair(so, sn),
        )
    return table


def render(report: VerifyReport, console: Console) -> None:
    """Print the report: header, optimizer and parameter tables, differences, notes, verdict."""
    if report.status in ("error", "skipped", "unsupported"):
        console.print(report.summary_line(), markup=False)
        return
    console.print(
        f"verify {report.old_path} (0.x) vs {report.new_path} (1.x): model {report.model}, "
        f"codebase {report.codebase or '-'}, device {report.device}, nproc {report.nproc}",
        markup=False,
    )
    console.print(f"steps: {report.steps} ({report.steps_reason})", markup=False)
    old, new = report.old, report.new
    if old is not None and new is not None:
        console.print(f"0.x schedule: {_short(jsonable(old.schedule))}", markup=False)
        console.print(f"1.x schedule: {_short(jsonable(new.schedule))}", markup=False)
        console.print(_module_table(report))
        if old.allreduce is not None or new.allreduce is not None:
            console.print("all-reduce calls per iteration (DDP comm hook, rank 0):", markup=False)
            console.print(f"  0.x: {old.allreduce}", markup=False)
            console.print(f"  1.x: {new.allreduce}", markup=False)
    if report.params:
        console.print(_param_table(report))
    if report.schedule is not None:
        _render_schedule(report.schedule, console)
    if report.notes:
        console.print("Notes:", style="bold")
        for note in report.notes:
            console.print(f"  - {note.message}", markup=False)
    if report.differences:
        console.print("Differences:", style="bold red")
        for diff in report.differences:
            console.print(f"  - [{diff.kind}] {diff.message}", markup=False)
    style = "bold red" if report.differences else "bold green"
    console.print(report.summary_line(), style=style, markup=False)


def _render_schedule(schedule: ScheduleComparison, console: Console) -> None:
    """The schedule section: both sides, lengths, and the verdict with the first difference."""
    console.print("Schedule (lr/momentum of every iteration):", style="bold")
    lines = [f"  0.x: {schedule.old_description}", f"  1.x: {schedule.new_description}"]
    for label, length in (("0.x", schedule.old_length), ("1.x", schedule.new_length)):
        if length is not None:
            lines.append(f"  {label} length: {length.text()}")
    if (
        schedule.old_length
        and schedule.old_length.by_epoch
        or (schedule.new_length and schedule.new_length.by_epoch)
    ):
        lines.append(f"  iterations per epoch: {schedule.iters_per_epoch} (--iters-per-epoch)")
    for line in lines:
        console.print(line, markup=False)
    if schedule.status == "not compared":
        console.print(f"  not compared: {schedule.reason}", markup=False)
    elif schedule.status == "identical":
        console.print(
            f"  identical over {schedule.compared_iterations} iterations (rtol {schedule.rtol:g})",
            style="green",
            markup=False,
        )
    else:
        for _key, message in schedule.messages():
            console.print(f"  {message}", style="bold red", markup=False)
