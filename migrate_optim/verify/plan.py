"""What each config asks ``verify`` to train: single optimizer or GAN schedule, codebase, classes.

Reads the loaded configs only (no torch): which 0.x trainer applies (codebase detected
statically, or forced), which GAN ``train_step`` schedule each side runs (docs/gan.md), and the
keys those schedules read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_optim import facts

__all__ = [
    "NewPlan",
    "NotVerifiable",
    "OldPlan",
    "Unsupported",
    "VerifyError",
    "detect_codebase",
    "plan_new",
    "plan_old",
]

# MMagic 1.2.0 classes whose train_step is BaseGAN.train_step's schedule
# (docs/gan.md#the-mmagic-train_step).
BASEGAN_TYPES = frozenset(
    {
        "BaseGAN",
        "BaseConditionalGAN",
        "BigGAN",
        "SAGAN",
        "SNGAN",
        "DCGAN",
        "WGANGP",
        "LSGAN",
        "GGAN",
        "EG3D",
        "StyleGAN2",
        "StyleGAN3",
        "MSPIEStyleGAN2",
    }
)
# StyleGAN2/3 and MSPIEStyleGAN2 do not enter optim_context (docs/gan.md#the-mmagic-train_step).
NO_CONTEXT_TYPES = frozenset({"StyleGAN2", "StyleGAN3", "MSPIEStyleGAN2"})
TRANSLATION_TYPES = frozenset({"CycleGAN", "Pix2Pix"})
# Schedules with per-scale optimizers: not modelled by verify.
UNSUPPORTED_NEW = frozenset(
    {"PGGAN", "ProgressiveGrowingGAN", "StyleGANv1", "StyleGANV1", "SinGAN", "PESinGAN"}
)
UNSUPPORTED_OLD_KINDS = frozenset({"pggan", "singan"})
# MMEditing 0.x restorers that train a discriminator on their own schedule (disc_steps,
# disc_init_steps; mmedit==0.16.1: mmedit/models/restorers/srgan.py and subclasses): not modelled.
GAN_RESTORERS = frozenset(
    {"SRGAN", "ESRGAN", "RealESRGAN", "GLEAN", "RealBasicVSR", "DIC", "CycleGAN", "Pix2Pix"}
)
# MMagic 1.x models with their own train_step stepping one wrapper per key (TTSR: generator,
# extractor, discriminator: mmagic/models/editors/ttsr/ttsr.py :: TTSR.train_step). Every other
# editing model trains through MMEngine's BaseModel.train_step: optim_wrapper.update_params,
# which an OptimWrapperDict refuses (NotImplementedError).
MULTI_WRAPPER_EDITORS = frozenset({"TTSR"})
# mmgen 0.x diffusion models: one optimizer per module (``denoising``), stepped every iteration
# by their own train_step; trained like a multi-module restorer on both sides.
DIFFUSION_TYPES = frozenset({"BasicGaussianDiffusion"})
# 0.x train_cfg keys each schedule family reads; others are silently ignored
# (docs/gan.md#which-train_cfg-keys-each-class-reads).
OLD_KEYS_READ = {
    "static": {"disc_steps", "use_ema", "real_img_key"},
    "basic": {"disc_steps", "gen_steps", "batch_accumulation_steps", "use_ema"},
    "translation": {"disc_steps", "disc_init_steps", "real_img_key"},
}
_SCHEDULE_KEYS = ("disc_steps", "gen_steps", "batch_accumulation_steps", "disc_init_steps")


class VerifyError(Exception):
    """A config cannot be verified (unloadable, unbuildable, unsupported): exit status 2."""


class Unsupported(VerifyError):
    """OLD's 0.x codebase trains in a way verify does not model (exit status 3, with why)."""


class NotVerifiable(VerifyError):
    """Nothing to train: neither config defines an optimizer (e.g. a schedule-only base file)."""


@dataclass
class OldPlan:
    """How the 0.x side trains: ``kind`` is ``single`` or ``gan``."""

    kind: str
    codebase: str
    codebase_note: str = ""
    model_type: str | None = None
    gan_kind: str | None = None
    train_cfg: dict[str, Any] = field(default_factory=dict)
    module_keys: tuple[str, str] = ("generator", "discriminator")
    notes: list[str] = field(default_factory=list)
    #: the config key holding the optimizers (``optimizers`` for MMEditing restorers)
    optimizer_key: str = "optimizer"
    #: restorers: the 1.x side is one wrapper over the model, so one 0.x optimizer is labelled
    #: as the model's ('') for the comparison
    as_single: bool = False


@dataclass
class NewPlan:
    """How the 1.x side trains: ``kind`` is ``single`` or ``gan`` (``family`` ``basegan`` or
    ``translation``)."""

    kind: str
    model_type: str | None = None
    family: str | None = None
    discriminator_steps: int = 1
    generator_steps: int = 1
    disc_init_steps: int = 0
    optim_context: bool = True
    module_keys: tuple[str, str] = ("generator", "discriminator")
    notes: list[str] = field(default_factory=list)


def _model_type(cfg: Mapping) -> str | None:
    model = cfg.get("model")
    if isinstance(model, Mapping) and isinstance(model.get("type"), str):
        return model["type"]
    return None


def _is_per_module(optimizer: Any) -> bool:
    # the converter's test (migrate_optim.facts), on a loaded config
    if not isinstance(optimizer, Mapping):
        return False
    values_are_dicts = all(isinstance(v, Mapping) for v in optimizer.values())
    return facts.is_per_module(optimizer.keys(), values_are_dicts)


def detect_codebase(path: Path | None, forced: str | None, detect_path: Path | None = None) -> str:
    """The 0.x codebase of ``path`` read statically (path names, model types, repo markers).

    ``detect_path`` is where the file really lives when ``path`` is a temporary copy (its folder
    names tell the codebase). Returns ``''`` when nothing tells.
    """
    from migrate_optim.convert import codebase as cb
    from migrate_optim.convert.static import ConfigTree, parse_config

    if forced:
        return forced
    if path is None:
        return ""
    if detect_path is not None:
        found = cb.from_path(detect_path)
        if found:
            return found
    try:
        source = path.read_text(encoding="utf-8-sig")
        tree = ConfigTree()
        effective = tree.effective(parse_config(source, path))
    except Exception:  # noqa: BLE001 - detection is best effort; loading reports real errors
        return cb.from_path(path) or ""
    found = cb.detect(path, effective, None)
    if not found and detect_path is not None:
        found = cb.from_repository(detect_path)
    return found or ""


def plan_old(cfg: Mapping, codebase: str) -> OldPlan:
    """Decide how to train a loaded 0.x config (raises :class:`VerifyError`)."""
    from migrate_optim.runtime.legacy.gan import MODEL_KINDS

    optimizer = cfg.get("optimizer")
    per_module = _is_per_module(optimizer)
    model_type = _model_type(cfg)
    gan_model = model_type in MODEL_KINDS
    note = ""
    if not codebase:
        if not optimizer and _is_per_module(cfg.get("optimizers")):
            codebase, note = "mmedit", "codebase not detected: `optimizers` (plural), so mmedit"
        elif per_module or gan_model:
            codebase, note = "mmgen", "codebase not detected: per-module optimizers, so mmgen"
        elif cfg.get("fp16") is not None:
            raise VerifyError(
                "OLD: cannot tell the 0.x codebase, and mmdet, mmcls and mmseg treat the "
                "top-level fp16 key differently: pass --codebase"
            )
        else:
            codebase = "mmdet"
            note = (
                "codebase not detected; mmdet, mmcls and mmseg apply this config's "
                "optimizer_config the same way"
            )
    check_supported(cfg, codebase)
    if codebase == "mmedit":
        return _plan_restorer(cfg, codebase, note, model_type)
    if not optimizer:
        raise NotVerifiable("OLD defines no optimizer")
    if model_type in DIFFUSION_TYPES and per_module:
        plan = _plan_restorer(cfg, codebase, note, model_type, "optimizer")
        plan.notes.append(
            f"OLD: {model_type}.train_step (mmgen==0.7.3: models/diffusions/base_diffusion.py) "
            "zeroes, back-propagates and steps optimizer['denoising'] every iteration"
        )
        return plan
    if codebase == "mmgen" or per_module:
        if not gan_model:
            raise VerifyError(
                f"OLD: no 0.x GAN train_step schedule known for model type {model_type!r} "
                f"(known: {sorted(MODEL_KINDS)})"
            )
        kind = MODEL_KINDS[model_type]
        if kind in UNSUPPORTED_OLD_KINDS:
            raise VerifyError(f"OLD: {model_type} builds per-scale optimizers; not supported")
        if not per_module:
            raise VerifyError(f"OLD: {model_type} needs one optimizer per module (a dict of dicts)")
        model = cfg.get("model") or {}
        train_cfg = model.get("train_cfg") if isinstance(model, Mapping) else None
        if train_cfg is None:
            train_cfg = cfg.get("train_cfg")
        train_cfg = dict(train_cfg or {})
        keys = (
            ("generators", "discriminators")
            if kind == "translation"
            else (
                "generator",
                "discriminator",
            )
        )
        for key in keys:
            if key not in optimizer:
                raise VerifyError(
                    f"OLD: {model_type}.train_step steps optimizer[{key!r}], but the optimizer "
                    f"dict has {sorted(optimizer)}"
                )
        plan = OldPlan("gan", codebase, note, model_type, kind, train_cfg, keys)
        ignored = sorted(
            k for k in train_cfg if k in _SCHEDULE_KEYS and k not in OLD_KEYS_READ[kind]
        )
        if ignored:
            plan.notes.append(
                f"OLD: {model_type} ignores train_cfg keys {ignored} (docs/gan.md): not applied"
            )
        if cfg.get("optimizer_config"):
            plan.notes.append(
                "OLD: mmgen's train API ignores optimizer_config (docs/optimizer-hooks.md): "
                "no clipping, "
                "no optimizer hook"
            )
        return plan
    return OldPlan("single", codebase, note, model_type)


def _plan_restorer(
    cfg: Mapping, codebase: str, note: str, model_type: str | None, key: str = "optimizers"
) -> OldPlan:
    """MMEditing 0.x: ``optimizers`` (plural), one optimizer per child, each stepped by the
    model's ``train_step`` every iteration (``mmedit==0.16.1: restorers/basic_restorer.py ::
    BasicRestorer.train_step``: zero_grad, backward, step; ``ttsr.py`` likewise for the
    generator and the extractor)."""
    optimizers = cfg.get(key)
    if not optimizers:
        raise NotVerifiable(f"OLD defines no {key}")
    if not _is_per_module(optimizers):
        raise VerifyError("OLD: MMEditing optimizers must be a dict of per-module optimizer dicts")
    if model_type in GAN_RESTORERS or any("disc" in str(k) for k in optimizers):
        raise Unsupported(
            f"OLD: MMEditing {model_type} trains a discriminator on its own schedule "
            "(disc_steps, disc_init_steps, step counters), which verify does not model"
        )
    keys = tuple(optimizers)
    plan = OldPlan("restorer", codebase, note, model_type, module_keys=keys)  # type: ignore[arg-type]
    plan.optimizer_key = key
    plan.notes.append(
        f"OLD: {model_type} steps optimizers {list(keys)} in its train_step every iteration"
    )
    return plan


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise VerifyError(f"NEW: {what} must be a positive int, got {value!r}")
    return value


def plan_new(cfg: Mapping, restorer: bool = False) -> NewPlan:
    """Decide how to train a loaded 1.x config (raises :class:`VerifyError`).

    ``restorer``: OLD is an MMEditing restorer, so a dict of wrappers is an editing model's
    (``kind='restorer'``), not a GAN's.
    """
    wrapper = cfg.get("optim_wrapper")
    if not wrapper:
        if cfg.get("optimizer"):
            raise VerifyError("NEW has no optim_wrapper (it still has a 0.x optimizer key)")
        raise NotVerifiable("NEW defines no optim_wrapper")
    if not isinstance(wrapper, Mapping):
        raise VerifyError(f"NEW: optim_wrapper must be a dict, got {type(wrapper).__name__}")
    single = "optimizer" in wrapper or "modules" in wrapper
    if single:
        return NewPlan("single", _model_type(cfg))
    model = cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}
    model_type = _model_type(cfg)
    if restorer:
        plan = NewPlan("restorer", model_type)
        plan.module_keys = tuple(k for k, v in wrapper.items() if isinstance(v, Mapping))  # type: ignore[assignment]
        plan.family = (
            "multi" if model_type in MULTI_WRAPPER_EDITORS | DIFFUSION_TYPES else "base_model"
        )
        if model_type in DIFFUSION_TYPES:
            plan.notes.append(
                f"NEW: MMagic has no {model_type}; assumed to update each wrapper once per "
                "iteration, as the 0.x model did"
            )
        return plan
    if model_type in UNSUPPORTED_NEW:
        raise VerifyError(f"NEW: {model_type} builds per-scale optimizer wrappers; not supported")
    plan = NewPlan("gan", model_type)
    if model_type in TRANSLATION_TYPES:
        plan.family = "translation"
        plan.module_keys = ("generators", "discriminators")
        plan.disc_init_steps = int(model.get("disc_init_steps", 0))
    else:
        plan.family = "basegan"
        plan.generator_steps = _int(model.get("generator_steps", 1), "model.generator_steps")
        if model_type not in BASEGAN_TYPES:
            plan.notes.append(
                f"NEW: model type {model_type!r} is assumed to use BaseGAN.train_step"
            )
    plan.discriminator_steps = _int(
        model.get("discriminator_steps", 1), "model.discriminator_steps"
    )
    plan.optim_context = model_type not in NO_CONTEXT_TYPES
    return plan


def check_supported(cfg: Mapping, codebase: str) -> None:
    """Raise :class:`Unsupported` (with the table's reason) when the 0.x side cannot be trained.

    The table is :mod:`migrate_optim.codebases`; a codebase name it does not know is
    unsupported too, never a ``ValueError``.
    """
    from migrate_optim.codebases import UnsupportedCodebase
    from migrate_optim.runtime.legacy.trainer_rules import supported_api

    try:
        supported_api(codebase, cfg)
    except UnsupportedCodebase as exc:
        raise Unsupported(f"OLD ({codebase}): {exc}") from None
