"""What a conversion could not do exactly: the catalogue of finding ids, and the findings.

:class:`FindingId` is the one place a finding id is defined: its code (``MO101``), the rule that
owns it, the severities it can carry, the docs section that explains it and its meaning. Rules
and the engine pass its members (``FindingId.PARAMWISE``) wherever they report something; the
README's finding table is generated from it (``python -m migrate_optim.convert.findings``
rewrites it; ``tests/test_readme.py`` checks it). :class:`FindingFilter` implements
``convert --select/--ignore``.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class Severity(str, enum.Enum):
    """How much a finding matters to the user.

    ``info``: converted exactly, but the user should know (e.g. a dropped no-op key).
    ``warning``: converted, but 1.x training may differ in a corner case the tool cannot see.
    ``error``: not converted; a ``# TODO(migrate-optim)`` comment marks the place.
    """

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


_I, _W, _E = Severity.INFO, Severity.WARNING, Severity.ERROR


@enum.unique
class FindingId(enum.StrEnum):
    """Every finding id the converter can report (a member is the ``str`` of its code).

    A member is ``CODE, RULE, SEVERITIES, DOCS, MEANING``: ``RULE`` names the module under
    ``convert/rules/`` that owns the id (``core`` for the conversion machinery), ``DOCS`` the
    section that explains it (a ``docs/`` page and anchor, or a README section). A new id is
    one line here (and ``python -m migrate_optim.convert.findings`` to regenerate the README
    table).
    """

    rule: str
    severities: tuple[Severity, ...]
    docs: str
    meaning: str

    def __new__(
        cls, code: str, rule: str, severities: tuple[Severity, ...], docs: str, meaning: str
    ) -> FindingId:
        """A member whose value is ``code``."""
        member = str.__new__(cls, code)
        member._value_ = code
        member.rule = rule
        member.severities = severities
        member.docs = docs
        member.meaning = meaning
        return member

    ENGINE = (
        "MO001", "core", (_W, _E), "README.md#what-convert-rewrites",
        "conversion machinery: `_base_` chain unreadable or conflicting (own keys converted as "
        "overrides); a name assigned dynamically or referenced elsewhere; a value from a base "
        "that cannot be moved into this file; a key a base keeps unconverted; `_delete_` with "
        "nothing to delete; a statement still carrying a TODO",
    )  # fmt: skip
    OPTIMIZER = (
        "MO101", "optimizer", (_E,), "docs/optimizers.md#where-the-optimizer-lives",
        "`optimizer` → `optim_wrapper` (TODO: mmselfsup `paramwise_options`)",
    )  # fmt: skip
    OPTIMIZER_HOOK = (
        "MO102", "optimizer_hook", (_I, _E), "docs/optimizer-hooks.md",
        "`optimizer_config` → wrapper fields (info: no-op arguments dropped; TODO: unknown hook "
        "or argument, `optimizer_config=None`, not a literal, `grad_clip.type`, accumulation "
        "with no exact 1.x form)",
    )  # fmt: skip
    FP16 = (
        "MO103", "optimizer_hook", (_I, _E), "docs/fp16.md#top-level-fp16-per-codebase",
        "top-level `fp16` (info: ignored by mmseg, or extra keys ignored by mmcls; TODO: the "
        "0.x trainer failed on it, or not a dict)",
    )  # fmt: skip
    LOSS_SCALE = (
        "MO104", "optimizer_hook", (_W, _E), "docs/fp16.md#loss-scale-values",
        "`loss_scale` (warning: int written as float; TODO: invalid value)",
    )  # fmt: skip
    PARAMWISE = (
        "MO105", "paramwise", (_I, _W, _E), "docs/paramwise.md",
        "`paramwise_cfg` (added `norm_decay_mult=1.0`; depthwise-bias difference; "
        "`flat_decay_mult`/`custom_keys` extras dropped; frozen parameters now excluded; TODO: "
        "meaning cannot be checked)",
    )  # fmt: skip
    ANOMALOUS_PARAMS = (
        "MO106", "optimizer_hook", (_I, _E), "docs/optimizer-hooks.md#detect_anomalous_params",
        "`detect_anomalous_params` → `model_wrapper_cfg`",
    )  # fmt: skip
    NOT_READ_BY_TRAINER = (
        "MO107", "optimizer_hook", (_W,),
        "docs/optimizer-hooks.md#how-each-trainer-builds-the-hook",
        "`optimizer_config`/`fp16` dropped: the mmgen/mmedit trainers never read them",
    )  # fmt: skip
    CODEBASE = (
        "MO108", "optimizer_hook", (_I, _W, _E), "docs/codebases.md#telling-the-codebase",
        "codebase (TODO: fp16 in an unknown codebase; warning: hook converted under an unknown "
        "codebase; info: assumed from the run's other configs)",
    )  # fmt: skip
    CONSTRUCTOR = (
        "MO109", "optimizer", (_I, _W, _E), "docs/optimizers.md#constructor-names",
        "constructor (info: same name registered in 1.x; warning: unknown, kept; TODO: its 1.x "
        "successor means something else)",
    )  # fmt: skip
    LEFTOVER = (
        "MO110", "core", (_E,), "docs/optimizers.md#keys-no-rule-converts",
        "a 0.x optimizer key no rule could convert",
    )  # fmt: skip
    APEX = (
        "MO111", "optimizer_hook", (_W,), "docs/optimizer-hooks.md#apex",
        "apex: `use_fp16=True` → `ApexOptimWrapper` (needs apex)",
    )  # fmt: skip
    GAN_OPTIMIZERS = (
        "MO201", "gan_optimizer", (_I, _W, _E), "docs/gan.md#per-module-optimizers",
        "per-module optimizers → `MultiOptimWrapperConstructor` (info/warnings on module names, "
        "mmedit single-module restorers)",
    )  # fmt: skip
    GAN_CONSTRUCTOR = (
        "MO202", "gan_optimizer", (_I, _E), "docs/gan.md#per-module-optimizers",
        "per-module `constructor` has no 1.x form (TODO)",
    )  # fmt: skip
    GAN_TRAIN_CFG = (
        "MO203", "gan_train_cfg", (_I, _W, _E), "docs/gan.md#which-train_cfg-keys-each-class-reads",
        "GAN `train_cfg` keys moved into `model` (info: keys the class never read; TODO: "
        "unknown class, non-static values)",
    )  # fmt: skip
    GAN_STEPS = (
        "MO204", "gan_train_cfg", (_I, _W, _E), "docs/gan.md#step-mapping",
        "D/G schedule (TODO: `disc_steps % batch_accumulation_steps != 0`)",
    )  # fmt: skip
    PGGAN = (
        "MO205", "gan_train_cfg", (_I, _W, _E), "docs/gan.md#pggan",
        "PGGAN optimizers and lr schedule (TODO: `disc_steps != 1`)",
    )  # fmt: skip
    SINGAN = (
        "MO206", "gan_train_cfg", (_I, _W, _E), "docs/gan.md#singan",
        "SinGAN (TODO: noise-weight timing differs)",
    )  # fmt: skip
    GAN_EMA = (
        "MO207", "gan_ema", (_I, _W, _E), "docs/gan.md#ema",
        "EMA hook → `model.ema_config` (warning: first update is a copy; TODO: non-integer "
        "interval/start, other `momentum_nontrainable`, phase shift)",
    )  # fmt: skip
    GAN_RUNNER = (
        "MO208", "gan_runner", (_I, _W, _E), "docs/gan.md#runner-fp16-and-totals",
        "runner / `total_iters` / `fp16_loss_scaler` (info: runner options dropped; warning: "
        "one scaler per wrapper; TODO: apex)",
    )  # fmt: skip
    GAN_RESUME = (
        "MO209", "gan_runner", (_I,), "docs/gan.md#resume-caveats",
        "resume caveats (0.x phase restarted at 0 without `pass_training_status`; MMagic "
        "D-wrapper counters restart on resume)",
    )  # fmt: skip
    LR_CONFIG = (
        "MO301", "lr_config", (_I, _E), "docs/schedules.md#policy-mapping",
        "`lr_config` → `param_scheduler` (info: a `step` `min_lr` that never binds dropped; "
        "TODO: `inv`, `step` with a binding `min_lr`, `CosineRestart` with a floor and weights "
        "< 1, YOLOX/CosineAnnealingCooldown/Reduce/unknown policies, `warmup_by_epoch` or "
        "iteration lengths inside an epoch runner (needs `len(train_dataloader)`), "
        "`by_epoch=True` inside an iteration runner)",
    )  # fmt: skip
    MOMENTUM_CONFIG = (
        "MO302", "momentum_config", (_E,), "docs/schedules.md#policy-mapping",
        "`momentum_config` → momentum schedulers (TODO: momentum warmup, OneCycle momentum, "
        "`min_momentum` clamps, unknown policies, an `lr_config` left for the user)",
    )  # fmt: skip
    TRAIN_LOOP = (
        "MO303", "train_loop", (_W, _E), "docs/schedules.md#runner-and-totals",
        "`runner` / `total_epochs` / `total_iters` → `train_cfg` loop with `val_interval` "
        "(warning: `evaluation` not a literal or with `start`; TODO: unknown runner or options, "
        "lengths that disagree, a 0.x top-level model `train_cfg`)",
    )  # fmt: skip
    WARMUP_FLOOR = (
        "MO304", "lr_config", (_W, _E), "docs/schedules.md#warmup-with-a-floor",
        "warmup chained with a main scheduler with a non-zero floor: the largest lr difference, "
        "computed from the config (TODO when it cannot be computed)",
    )  # fmt: skip
    LINEAR_INTERVAL = (
        "MO305", "lr_config", (_E,), "docs/schedules.md#linearlrinterval",
        "mmgen/mmedit `Linear` policy with `interval > 1` → MMagic `LinearLrInterval` per "
        "wrapper, with what differs (TODO)",
    )  # fmt: skip
    SCHEDULE_LEFTOVER = (
        "MO310", "core", (_E,), "docs/schedules.md#keys-no-rule-converts",
        "a 0.x schedule key no rule could convert",
    )  # fmt: skip


def findings_table() -> str:
    """The README's finding table (markdown), one row per :class:`FindingId`."""
    rows = ["| id | severity | rule | meaning | explained in |", "|---|---|---|---|---|"]
    for fid in FindingId:
        severities = ", ".join(s.value for s in fid.severities)
        page, _, anchor = fid.docs.partition("#")
        # a README section is linked by its anchor alone (the table is in the README)
        target = f"#{anchor}" if page == "README.md" else fid.docs
        where = fid.docs.removeprefix("docs/")
        link = f"[{where}]({target})"
        rows.append(f"| {fid.value} | {severities} | `{fid.rule}` | {fid.meaning} | {link} |")
    return "\n".join(rows) + "\n"


_TABLE = re.compile(r"^\| id \|.*?\n(?=[^|]|\Z)", re.M | re.S)


def with_findings_table(readme: str) -> str:
    """``readme`` with its finding table replaced by :func:`findings_table`."""
    if not _TABLE.search(readme):
        raise ValueError("the README has no finding table (a line starting `| id |`)")
    return _TABLE.sub(lambda _m: findings_table(), readme, count=1)


class FindingFilter:
    """``convert --select/--ignore``: which findings a run reports (ruff's spelling).

    Each of ``select`` and ``ignore`` is a list of codes or code prefixes (``MO2`` is every
    GAN id, ``ALL`` every id). A finding is shown when it is selected (every finding is when
    ``select`` is empty) and not ignored; where a code matches both, the longer (more
    specific) prefix wins, and ``ignore`` wins a tie, as in ruff. Filtering only hides
    findings: the converted text, its ``# TODO(migrate-optim)`` comments included, is the same.
    """

    def __init__(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> None:
        self.select = tuple(_prefixes(select))
        self.ignore = tuple(_prefixes(ignore))

    @classmethod
    def parse(cls, select: str | None, ignore: str | None) -> FindingFilter:
        """A filter from comma-separated option values; ValueError names an unknown code."""
        return cls(_split(select), _split(ignore))

    def __bool__(self) -> bool:
        return bool(self.select or self.ignore)

    def shows(self, rule_id: str) -> bool:
        """Whether a finding with ``rule_id`` is reported."""
        chosen = max((len(p) for p in self.select if rule_id.startswith(p)), default=-1)
        dropped = max((len(p) for p in self.ignore if rule_id.startswith(p)), default=-1)
        if self.select and chosen < 0:
            return False
        return dropped < chosen or dropped < 0

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings this filter shows."""
        return [f for f in findings if self.shows(f.rule_id)]


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _prefixes(codes: Iterable[str]) -> Iterable[str]:
    for code in codes:
        prefix = "" if code.upper() == "ALL" else code.upper()
        if not any(fid.value.startswith(prefix) for fid in FindingId):
            raise ValueError(f"unknown finding id or prefix {code!r}")
        yield prefix


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a rule could not do (or wants the user to know), at ``path:line``."""

    path: str
    line: int
    rule_id: str
    severity: Severity = field(compare=False)
    message: str = field(compare=False)

    def format(self) -> str:
        """Render as ``file:line: severity [rule-id] message`` (one line)."""
        return f"{self.path}:{self.line}: {self.severity.value} [{self.rule_id}] {self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable form, for reports."""
        return {
            "path": self.path,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
        }


STDIN_NAME = "<stdin>"
"""How standard input is named in messages, findings and diffs."""


def display_path(path: Path | str) -> str:
    """``path`` as shown to the user: relative to the cwd when below it, else as given.

    Lexical on purpose (no symlink resolution): a dangling link must be named, not its target,
    and a finding names the file the user gave, not where a link leads.
    """
    text = str(path)
    absolute = os.path.abspath(text)
    cwd = os.getcwd()
    if absolute == cwd:
        return "."
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return text


class ConvertError(Exception):
    """Input that cannot be converted at all (syntax error, not UTF-8, unreadable, ...).

    The engine turns it into a one-line ``file:line: error: cause`` message and exit code 2,
    and leaves the file untouched.
    """

    def __init__(self, path: str, line: int, cause: str) -> None:
        super().__init__(f"{path}:{line}: error: {cause}")
        self.path = path
        self.line = line
        self.cause = cause

    def format(self) -> str:
        """The one-line message shown to the user."""
        return str(self)


if __name__ == "__main__":  # pragma: no cover - `python -m migrate_optim.convert.findings`
    # Rewrite the README's finding table from the catalogue (path as the first argument).
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    target.write_text(with_findings_table(target.read_text(encoding="utf-8")), encoding="utf-8")
