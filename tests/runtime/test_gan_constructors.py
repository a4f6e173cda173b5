"""MMagic's multi-optimizer constructors: MultiOptimWrapperConstructor, PGGAN, SinGAN."""

from __future__ import annotations

import pytest
import torch.nn as nn

from migrate_optim.runtime import (
    MultiOptimWrapperConstructor,
    OptimWrapper,
    OptimWrapperDict,
    PGGANOptimWrapperConstructor,
    SinGANOptimWrapperConstructor,
    build_optim_wrapper,
    get_params_by_names,
)
from tests.runtime.models import FakeDDP


class GAN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 1))


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.m1 = GAN()
        self.m2 = nn.Conv2d(3, 3, 1)
        self.text_encoder = nn.Module()
        self.text_encoder.embedding = nn.Embedding(10, 4)


def _ids(params):
    return [id(p) for p in params]


def _wrapper_params(wrapper):
    return [p for g in wrapper.optimizer.param_groups for p in g["params"]]


ADAM = {"type": "Adam", "lr": 2e-4, "betas": (0.5, 0.999)}


def test_one_wrapper_per_direct_child():
    model = GAN()
    wrappers = build_optim_wrapper(
        FakeDDP(model),
        {
            "constructor": "MultiOptimWrapperConstructor",
            "generator": {"optimizer": ADAM, "accumulative_counts": 2},
            "discriminator": {
                "type": "OptimWrapper",
                "optimizer": {"type": "SGD", "lr": 0.1, "weight_decay": 0.1},
                "paramwise_cfg": {"bias_decay_mult": 0.0},
            },
        },
    )
    assert isinstance(wrappers, OptimWrapperDict)
    assert list(wrappers) == ["generator", "discriminator"]
    gen, disc = wrappers["generator"], wrappers["discriminator"]
    assert _ids(_wrapper_params(gen)) == _ids(model.generator.parameters())
    assert _ids(_wrapper_params(disc)) == _ids(model.discriminator.parameters())
    assert gen._accumulative_counts == 2 and gen.get_lr() == {"lr": [2e-4]}
    # paramwise_cfg is honoured for direct children: one group per parameter.
    decays = [g["weight_decay"] for g in disc.optimizer.param_groups]
    assert decays == [0.1, 0.0, 0.1, 0.0]


def test_modules_key_selects_the_child():
    model = GAN()
    wrappers = MultiOptimWrapperConstructor(
        {"g": {"modules": "generator", "optimizer": ADAM}, "discriminator": {"optimizer": ADAM}}
    )(model)
    assert _ids(_wrapper_params(wrappers["g"])) == _ids(model.generator.parameters())
    # An entry without `modules` next to one with it is resolved by its own name (MMagic
    # raises KeyError for this mix).
    disc = wrappers["discriminator"]
    assert _ids(_wrapper_params(disc)) == _ids(model.discriminator.parameters())


def test_regex_fallback_over_named_modules():
    model = Nested()
    wrappers = MultiOptimWrapperConstructor(
        {
            ".*embedding": {"optimizer": {"type": "Adam", "lr": 1e-4}},
            "m1.generator": {"optimizer": {"type": "Adam", "lr": 1e-5}},
            "m2": {"optimizer": {"type": "Adam", "lr": 1e-5}},
        }
    )(model)
    assert _ids(_wrapper_params(wrappers[".*embedding"])) == _ids(
        model.text_encoder.embedding.parameters()
    )
    assert _ids(_wrapper_params(wrappers["m1.generator"])) == _ids(model.m1.generator.parameters())
    assert _ids(_wrapper_params(wrappers["m2"])) == _ids(model.m2.parameters())


def test_paramwise_is_forbidden_outside_direct_children():
    constructor = MultiOptimWrapperConstructor(
        {"m1.generator": {"optimizer": ADAM, "paramwise_cfg": {"bias_lr_mult": 2.0}}}
    )
    with pytest.raises(AssertionError, match="paramwise_cfg"):
        constructor(Nested())


def test_no_match_gives_torch_empty_parameter_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        MultiOptimWrapperConstructor({"encoder": {"optimizer": ADAM}})(GAN())


def test_top_level_modules_build_a_single_wrapper():
    model = Nested()
    wrapper = MultiOptimWrapperConstructor(
        {"modules": ["m2", "text_encoder"], "optimizer": ADAM, "accumulative_counts": 3}
    )(model)
    assert type(wrapper) is OptimWrapper
    assert wrapper._accumulative_counts == 3
    expected = [*model.m2.parameters(), *model.text_encoder.parameters()]
    assert _ids(_wrapper_params(wrapper)) == _ids(expected)
    with pytest.raises(AssertionError, match="paramwise_cfg"):
        MultiOptimWrapperConstructor(
            {"modules": ["m2"], "optimizer": ADAM, "paramwise_cfg": {"bias_lr_mult": 2.0}}
        )(model)


def test_config_errors():
    with pytest.raises(AssertionError, match="paramwise_cfg should be set in each optimizer"):
        build_optim_wrapper(
            GAN(),
            {
                "constructor": "MultiOptimWrapperConstructor",
                "generator": {"optimizer": ADAM},
                "paramwise_cfg": {"bias_lr_mult": 2.0},
            },
        )
    # A 0.x-style sub-dict (the optimizer config itself) lacks `optimizer`.
    with pytest.raises(AssertionError, match="must contain"):
        MultiOptimWrapperConstructor({"generator": {"type": "Adam", "lr": 1e-4}})
    with pytest.raises(TypeError):
        MultiOptimWrapperConstructor([("generator", {})])
    # A per-entry constructor is not supported: it becomes an unexpected wrapper argument.
    constructor = MultiOptimWrapperConstructor(
        {"generator": {"optimizer": ADAM, "constructor": "DefaultOptimWrapperConstructor"}}
    )
    with pytest.raises(TypeError):
        constructor(GAN())


def test_get_params_by_names():
    model = Nested()
    params, found = get_params_by_names(model, ["m2", r"m1\..*", "nothing"])
    assert found == [
        "m2",
        "m1.generator",
        "m1.generator.0",
        "m1.generator.1",
        "m1.generator.2",
        "m1.discriminator",
        "m1.discriminator.0",
        "m1.discriminator.1",
    ]
    # Nested matches repeat parameters (torch warns about duplicates when building).
    assert len(params) == 2 * (6 + 4) + 2
    params, found = get_params_by_names(model, "text_encoder")
    assert (found, _ids(params)) == (["text_encoder"], _ids(model.text_encoder.parameters()))


class ProgressiveGAN(GAN):
    scales = [(4, 4), (8, 8), (16, 16)]


PGGAN_CFG = {
    "generator": {"optimizer": {"type": "Adam", "lr": 1e-3, "betas": (0.0, 0.99)}},
    "discriminator": {"optimizer": {"type": "Adam", "lr": 2e-3, "betas": (0.0, 0.99)}},
    "lr_schedule": {"generator": {"8": 5e-3, "16": 6e-3}, "discriminator": {"4": 7e-3}},
}


def test_pggan_resets_optimizers_per_scale_with_scheduled_lr():
    model = ProgressiveGAN()
    constructor = PGGANOptimWrapperConstructor(PGGAN_CFG)
    wrappers = constructor(model)
    assert list(wrappers) == [
        "generator_4",
        "generator_8",
        "generator_16",
        "discriminator_4",
        "discriminator_8",
        "discriminator_16",
    ]
    lrs = {name: w.get_lr()["lr"][0] for name, w in wrappers.items()}
    assert lrs == {
        "generator_4": 1e-3,
        "generator_8": 5e-3,
        "generator_16": 6e-3,
        "discriminator_4": 7e-3,
        "discriminator_8": 2e-3,
        "discriminator_16": 2e-3,
    }
    assert len({id(w.optimizer) for w in wrappers.values()}) == 6
    assert _ids(_wrapper_params(wrappers["generator_8"])) == _ids(model.generator.parameters())
    # Building again gives the same lrs: the schedule is not written back into the config.
    again = constructor(model)
    assert {name: w.get_lr()["lr"][0] for name, w in again.items()} == lrs


def test_pggan_without_reset_shares_one_wrapper():
    cfg = {**PGGAN_CFG, "reset_optim_for_new_scale": False}
    cfg.pop("lr_schedule")
    wrappers = PGGANOptimWrapperConstructor(cfg)(ProgressiveGAN())
    assert wrappers["generator_4"] is wrappers["generator_16"]
    assert wrappers["generator_4"].get_lr()["lr"] == [1e-3]


def test_pggan_errors_and_paramwise():
    cfg = dict(PGGAN_CFG, lr_schedule={"generator": {}})
    with pytest.raises(KeyError, match="discriminator"):
        PGGANOptimWrapperConstructor(cfg)(ProgressiveGAN())
    with pytest.raises(AssertionError):
        PGGANOptimWrapperConstructor(PGGAN_CFG, paramwise_cfg={"bias_lr_mult": 1.0})
    cfg = {
        "generator": {
            "optimizer": {"type": "Adam", "lr": 1e-3},
            "paramwise_cfg": {"bias_lr_mult": 2.0},
        },
        "lr_schedule": {"generator": {"8": 5e-3}},
    }
    wrappers = PGGANOptimWrapperConstructor(cfg)(ProgressiveGAN())
    assert wrappers["generator_8"].get_lr()["lr"][:2] == [5e-3, 1e-2]


class SinGAN(nn.Module):
    num_scales = 2

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Module()
        self.generator.blocks = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))
        self.discriminator = FakeDDP(nn.Module())
        self.discriminator.module.blocks = nn.ModuleList(nn.Linear(2, 1) for _ in range(3))


def test_singan_one_wrapper_per_block():
    model = SinGAN()
    wrappers = SinGANOptimWrapperConstructor(
        {"generator": {"optimizer": ADAM}, "discriminator": {"optimizer": {"type": "SGD", "lr": 1}}}
    )(model)
    assert list(wrappers) == [f"{k}_{i}" for k in ("generator", "discriminator") for i in range(3)]
    for i in range(3):
        gen_params = _wrapper_params(wrappers[f"generator_{i}"])
        assert _ids(gen_params) == _ids(model.generator.blocks[i].parameters())
        disc_params = _wrapper_params(wrappers[f"discriminator_{i}"])
        assert _ids(disc_params) == _ids(model.discriminator.module.blocks[i].parameters())
    with pytest.raises(AssertionError):
        SinGANOptimWrapperConstructor({"generator": {"optimizer": ADAM}}, paramwise_cfg={})
