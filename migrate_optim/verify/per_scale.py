"""``verify`` for GANs with per-scale optimizers: PGGAN/StyleGANv1 and SinGAN/PESinGAN.

SinGAN: see :func:`compare_singan`. PGGAN/StyleGANv1:

0.x (``mmgen==0.7.3: progressive_growing_unconditional_gan.py``, docs/gan.md#pggan): the model
builds its optimizers from ``train_cfg.optimizer_cfg``; the first scale trains with the lr written
there, and each later scale (with ``reset_optim_for_new_scale``, default True) with fresh
optimizers whose lr is ``g_lr_schedule.get(str(scale), g_lr_base)`` (``d_*`` for D); without
reset the first optimizers (and their state) carry on. 1.x (MMagic
``PGGANOptimWrapperConstructor``, docs/gan.md#pggan): one wrapper per ``{key}_{scale}``, lr
``lr_schedule[key].get(str(scale), optimizer lr)`` for every scale, the first included; without
reset all scales share one wrapper. MMagic's PGGAN trains with ``discriminator_steps=1`` only.

Both sides' optimizers are built on the probe for every scale of ``nkimgs_per_scale`` and
compared parameter by parameter (lr, betas, weight decay, ...); differences name the scale and
the config field behind it. Training across scale transitions is not run: the scale switches
follow ``shown_nkimg`` identically on both sides when ``nkimgs_per_scale`` is the same, which
is compared as a setting.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from migrate_optim.verify.plan import VerifyError

__all__ = ["PGGAN_TYPES", "SINGAN_TYPES", "compare_pggan", "compare_singan"]

PGGAN_TYPES = frozenset({"ProgressiveGrowingGAN", "PGGAN", "StyleGANV1", "StyleGANv1"})
_MODULES = ("generator", "discriminator")
_PREFIX = {"generator": "g", "discriminator": "d"}


def _old_train_cfg(cfg: Mapping) -> dict:
    model = cfg.get("model") or {}
    train_cfg = model.get("train_cfg") if isinstance(model, Mapping) else None
    if train_cfg is None:
        train_cfg = cfg.get("train_cfg")
    return dict(train_cfg or {})


def _scales(nkimgs: Any) -> list[int]:
    if not isinstance(nkimgs, Mapping) or not nkimgs:
        raise VerifyError("OLD: PGGAN train_cfg needs nkimgs_per_scale (a dict)")
    out = []
    for key in nkimgs:
        out.append(int(key) if isinstance(key, (str, int)) else int(tuple(key)[0]))
    return out


def compare_pggan(old_cfg: Mapping, new_cfg: Mapping, seed: int = 0) -> tuple[list, list]:
    """``(differences, notes)`` of a PGGAN/StyleGANv1 pair (see the module docstring)."""
    from migrate_optim.runtime import OptimWrapperDict, build_optim_wrapper
    from migrate_optim.runtime.legacy.constructor import build_optimizers
    from migrate_optim.verify.compare import Observation
    from migrate_optim.verify.probe import synthesize_probe
    from migrate_optim.verify.trace import describe_optimizer, parameter_names

    old_tc = _old_train_cfg(old_cfg)
    if "optimizer_cfg" not in old_tc:
        raise VerifyError("OLD: PGGAN train_cfg has no optimizer_cfg")
    scales = _scales(old_tc.get("nkimgs_per_scale"))
    new_model = new_cfg.get("model") if isinstance(new_cfg.get("model"), Mapping) else {}
    wrapper_cfg = new_cfg.get("optim_wrapper")
    if not isinstance(wrapper_cfg, Mapping):
        raise VerifyError("NEW has no optim_wrapper")
    differences: list = []
    notes: list = [
        Observation(
            "note",
            "*",
            f"PGGAN: optimizers of both sides built for every scale {scales} and compared; "
            "training across scale transitions is not run",
        )
    ]
    new_nk = new_model.get("nkimgs_per_scale")
    if (
        new_nk is not None
        and _scales(new_nk) != scales
        or (
            new_nk is not None
            and list(dict(new_nk).values()) != list(old_tc["nkimgs_per_scale"].values())
        )
    ):
        differences.append(
            Observation(
                "schedule",
                "*",
                "nkimgs_per_scale differs: the scales switch at other iterations",
                "nkimgs_per_scale",
                old_tc["nkimgs_per_scale"],
                new_nk,
            )
        )
    disc_steps = old_tc.get("disc_steps", 1)
    if disc_steps != 1:
        differences.append(
            Observation(
                "schedule",
                "*",
                f"0.x trains D {disc_steps} times per G step; MMagic's "
                "PGGAN hard-codes discriminator_steps=1",
                "disc_steps",
                disc_steps,
                1,
            )
        )

    probe_cfg = {"optim_wrapper": {k: {"optimizer": {}} for k in _MODULES}}
    model = synthesize_probe(old_cfg, new_cfg, probe_cfg, seed=seed)
    model.scales = [(s, s) for s in scales]
    names = parameter_names(model)
    try:
        wrappers = build_optim_wrapper(model, copy.deepcopy(dict(wrapper_cfg)))
    except Exception as exc:  # noqa: BLE001 - any build failure of the 1.x config
        raise VerifyError(f"NEW: cannot build optim_wrapper: {type(exc).__name__}: {exc}") from exc
    if not isinstance(wrappers, OptimWrapperDict):
        raise VerifyError("NEW: a PGGAN optim_wrapper must build one wrapper per scale")

    reset = old_tc.get("reset_optim_for_new_scale", True)
    base_cfg = copy.deepcopy(old_tc["optimizer_cfg"])
    first = build_optimizers(model, copy.deepcopy(base_cfg))
    for index, scale in enumerate(scales):
        if index == 0 or not reset:
            old_opts = first
        else:
            cfg = copy.deepcopy(base_cfg)
            for key in _MODULES:
                p = _PREFIX[key]
                schedule = old_tc.get(f"{p}_lr_schedule") or {}
                cfg[key]["lr"] = schedule.get(str(scale), old_tc[f"{p}_lr_base"])
            old_opts = build_optimizers(model, cfg)
        for key in _MODULES:
            wkey = f"{key}_{scale}"
            if wkey not in wrappers:
                differences.append(
                    Observation(
                        "structure", wkey, f"1.x builds no wrapper {wkey!r}", "optim_wrapper"
                    )
                )
                continue
            old_p = describe_optimizer(old_opts[key], key, names)
            new_p = describe_optimizer(wrappers[wkey].optimizer, key, names)
            field = (
                f"optimizer_cfg.{key}.lr"
                if index == 0 or not reset
                else f"{_PREFIX[key]}_lr_schedule['{scale}']"
            )
            for name in sorted(set(old_p) | set(new_p)):
                o, n = old_p.get(name), new_p.get(name)
                ho, hn = (o.hyper if o else None), (n.hyper if n else None)
                if ho == hn:
                    continue
                diff_keys = sorted(
                    k
                    for k in set(ho or {}) | set(hn or {})
                    if (ho or {}).get(k) != (hn or {}).get(k)
                )
                what = ", ".join(
                    f"{k} {(ho or {}).get(k)} (0.x) vs {(hn or {}).get(k)} (1.x)" for k in diff_keys
                )
                differences.append(
                    Observation(
                        "hyperparameter",
                        wkey,
                        f"scale {scale}, {key} ({field} vs "
                        f"optim_wrapper lr_schedule.{key}['{scale}']): {what} for {name}",
                        field,
                        ho,
                        hn,
                        [name],
                    )
                )
                break  # one finding per scale and module: the groups share the setting
        if index > 0:
            shared = all(
                wrappers[f"{k}_{scale}"] is wrappers[f"{k}_{scales[0]}"]
                for k in _MODULES
                if f"{k}_{scale}" in wrappers and f"{k}_{scales[0]}" in wrappers
            )
            if shared == reset:
                differences.append(
                    Observation(
                        "schedule",
                        f"scale {scale}",
                        f"0.x {'rebuilds' if reset else 'keeps'} the optimizers at scale "
                        f"{scale}, 1.x {'shares one wrapper' if shared else 'rebuilds them'}",
                        "reset_optim_for_new_scale",
                        reset,
                        not shared,
                    )
                )
    return differences, notes


SINGAN_TYPES = frozenset({"SinGAN", "PESinGAN"})
# 0.x train_cfg key -> 1.x model key (docs/gan.md#singan)
_SINGAN_KEYS = {
    "iters_per_scale": "iters_per_scale",
    "disc_steps": "discriminator_steps",
    "generator_steps": "generator_steps",
    "lr_scheduler_args": "lr_scheduler_args",
    "noise_weight_init": "noise_weight_init",
}


def _num_scales(model: Mapping, top: bool) -> Any:
    if top and model.get("num_scales") is not None:
        return model.get("num_scales")
    gen = model.get("generator")
    return gen.get("num_scales") if isinstance(gen, Mapping) else None


class _Blocks(nn.Module):
    """``model.<key>.blocks[idx]``, one small block per scale (what both constructors read)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(2, 2) for _ in range(count))


def compare_singan(old_cfg: Mapping, new_cfg: Mapping) -> tuple[list, list]:
    """``(differences, notes)`` of a SinGAN/PESinGAN pair: settings and per-scale optimizers.

    0.x (``mmgen==0.7.3: singan.py :: SinGAN.train_step``, docs/gan.md#singan): at each new
    scale, ``Adam(blocks[scale], lr=lr_g|lr_d, betas=(0.5, 0.999))`` and a ``MultiStepLR``;
    ``disc_steps`` D and ``generator_steps`` G updates per ``train_step``. 1.x (MMagic
    ``SinGANOptimWrapperConstructor`` and ``SinGAN.train_step``, docs/gan.md#singan): one
    wrapper per block, the keys in ``model``, ``max_iters = total_iters * disc_steps``; the
    next scale's noise weight is computed at the last iteration of a scale (0.x: the first),
    which no config restores: always reported.
    """
    from migrate_optim.runtime import OptimWrapperDict, build_optim_wrapper
    from migrate_optim.verify.compare import Observation
    from migrate_optim.verify.trace import describe_optimizer

    old_tc = _old_train_cfg(old_cfg)
    old_model = old_cfg.get("model") or {}
    new_model = new_cfg.get("model") if isinstance(new_cfg.get("model"), Mapping) else {}
    differences: list = []
    notes: list = [
        Observation(
            "note",
            "*",
            "SinGAN: settings and the optimizer of every scale compared on "
            "both sides; training is not run",
        )
    ]
    for old_key, new_key in _SINGAN_KEYS.items():
        o, n = old_tc.get(old_key), new_model.get(new_key)
        if o != n:
            differences.append(
                Observation(
                    "schedule",
                    "*",
                    f"train_cfg.{old_key}={o!r} (0.x) vs model.{new_key}={n!r} (1.x)",
                    old_key,
                    o,
                    n,
                )
            )
    scales = _num_scales(old_model, False)
    new_scales = _num_scales(new_model, True)
    if not isinstance(scales, int):
        raise VerifyError(f"OLD: SinGAN needs an int model.generator.num_scales, got {scales!r}")
    if new_scales != scales:
        differences.append(
            Observation(
                "schedule",
                "*",
                f"num_scales {scales} (0.x) vs {new_scales} (1.x)",
                "num_scales",
                scales,
                new_scales,
            )
        )
    total, max_iters = old_cfg.get("total_iters"), (new_cfg.get("train_cfg") or {}).get("max_iters")
    disc_steps = old_tc.get("disc_steps", 1)
    if total is not None and max_iters is not None and total * disc_steps != max_iters:
        differences.append(
            Observation(
                "schedule",
                "*",
                f"total_iters {total} x disc_steps {disc_steps}"
                f" (0.x) vs train_cfg.max_iters {max_iters} (1.x)",
                "total_iters",
                total * disc_steps,
                max_iters,
            )
        )
    differences.append(
        Observation(
            "schedule",
            "*",
            "MMagic's SinGAN computes the next scale's noise weight at the "
            "last iteration of a scale, 0.x at the first (convert's MO206 TODO): every scale "
            "after the first trains differently",
            "noise_weight",
            "first",
            "last",
        )
    )
    model = nn.Module()
    model.generator, model.discriminator = _Blocks(scales + 1), _Blocks(scales + 1)
    model.num_scales = scales
    wrapper_cfg = new_cfg.get("optim_wrapper")
    try:
        wrappers = build_optim_wrapper(model, copy.deepcopy(dict(wrapper_cfg or {})))
    except Exception as exc:  # noqa: BLE001 - any build failure of the 1.x config
        raise VerifyError(f"NEW: cannot build optim_wrapper: {type(exc).__name__}: {exc}") from exc
    if not isinstance(wrappers, OptimWrapperDict):
        raise VerifyError("NEW: a SinGAN optim_wrapper must build one wrapper per scale")
    for key, lr_key in (("generator", "lr_g"), ("discriminator", "lr_d")):
        for idx in range(scales + 1):
            block = model._modules[key].blocks[idx]
            names = {id(p): f"{key}.blocks.{idx}.{n}" for n, p in block.named_parameters()}
            old_opt = torch.optim.Adam(
                block.parameters(), lr=old_tc.get(lr_key), betas=(0.5, 0.999)
            )
            wkey = f"{key}_{idx}"
            if wkey not in wrappers:
                differences.append(
                    Observation(
                        "structure", wkey, f"1.x builds no wrapper {wkey!r}", "optim_wrapper"
                    )
                )
                break
            new_opt = wrappers[wkey].optimizer
            old_p = describe_optimizer(old_opt, key, names)
            new_p = describe_optimizer(new_opt, key, names)
            name = sorted(old_p)[0]
            ho, hn = old_p[name].hyper, new_p.get(name).hyper if name in new_p else None
            if type(new_opt) is not torch.optim.Adam or ho != hn:
                differences.append(
                    Observation(
                        "hyperparameter",
                        wkey,
                        f"scale {idx}, {key}: 0.x Adam({ho}) from "
                        f"train_cfg.{lr_key} vs 1.x {type(new_opt).__name__}({hn}) from "
                        f"optim_wrapper.{key}.optimizer",
                        lr_key,
                        ho,
                        hn,
                        [name],
                    )
                )
                break  # the same setting for every scale
    return differences, notes
