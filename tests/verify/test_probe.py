"""Tests of the synthesized probe model: names covered, features present, determinism."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch
from torch import nn

from migrate_optim.config import ConfigError, load_config
from migrate_optim.verify.probe import (
    ProbeModel,
    ProbeSpec,
    collect_probe_spec,
    constructor_names,
    synthesize_probe,
)
from tests.corpus import CORPORA, corpus_files

# Keys of the brief and of the corpus (Swin/Mask2Former, PVT, ViT, Deformable DETR), plus edge
# cases: a leading and a trailing dot, names that are nn.Module attributes or feature names.
KEYS = {
    "backbone": dict(lr_mult=0.1, decay_mult=1.0),
    "backbone.layer0": dict(lr_mult=0.5),
    "backbone.stages.0.blocks.1.norm": dict(decay_mult=0.0),
    "backbone.stages.0.blocks.11.norm": dict(decay_mult=0.0),
    "pos_block": dict(decay_mult=0.0),
    "norm": dict(decay_mult=0.0),
    "head": dict(lr_mult=10.0),
    "decode_head": dict(lr_mult=5.0),
    "absolute_pos_embed": dict(decay_mult=0.0),
    "relative_position_bias_table": dict(decay_mult=0.0),
    ".cls_token": dict(decay_mult=0.0),
    "sampling_offsets": dict(lr_mult=0.1),
    "layers.": dict(lr_mult=0.7),
    "type": dict(lr_mult=0.3),
    "bn": dict(lr_mult=0.2),
    "weight": dict(lr_mult=0.9),
}


def cfg_0x(keys=KEYS, **paramwise):
    return dict(
        optimizer=dict(
            type="AdamW",
            lr=1e-4,
            weight_decay=0.05,
            paramwise_cfg=dict(custom_keys=keys, **paramwise),
        ),
        optimizer_config=dict(grad_clip=None),
    )


def cfg_1x(keys=KEYS, **paramwise):
    return dict(
        optim_wrapper=dict(
            type="OptimWrapper",
            optimizer=dict(type="AdamW", lr=1e-4, weight_decay=0.05),
            paramwise_cfg=dict(custom_keys=keys, **paramwise),
        )
    )


GAN_0X = dict(
    optimizer=dict(
        generator=dict(
            type="Adam",
            lr=1e-4,
            betas=(0.0, 0.999),
            paramwise_cfg=dict(custom_keys={"mapping": dict(lr_mult=0.01)}),
        ),
        discriminator=dict(type="Adam", lr=4e-4, betas=(0.0, 0.999)),
    )
)
GAN_1X = dict(
    optim_wrapper=dict(
        constructor="MultiOptimWrapperConstructor",
        generator=dict(
            optimizer=dict(type="Adam", lr=1e-4, betas=(0.0, 0.999)),
            paramwise_cfg=dict(custom_keys={"style": dict(lr_mult=0.1)}),
        ),
        discriminator=dict(
            optimizer=dict(type="Adam", lr=4e-4, betas=(0.0, 0.999)), accumulative_counts=2
        ),
    )
)


def winning_key(name: str, keys) -> str | None:
    """The custom key mmcv/MMEngine apply to ``name``: longest match, ties alphabetical."""
    for key in sorted(sorted(keys), key=len, reverse=True):
        if key in name:
            return key
    return None


# ---------------------------------------------------------------------------------------------
# collecting what the configs ask for


def test_spec_collects_custom_keys_from_both_formats():
    spec = collect_probe_spec(cfg_0x({"a": {}, "b": {}}), cfg_1x({"b": {}, "c.d": {}}))
    assert spec.custom_keys == ("a", "b", "c.d")
    assert spec.module_names == ()
    assert spec.tie_across_modules is False  # a paramwise_cfg without bypass_duplicate


def test_spec_collects_gan_module_names_and_per_module_keys():
    spec = collect_probe_spec(GAN_0X, GAN_1X)
    assert spec.module_names == ("generator", "discriminator")
    assert spec.custom_keys == ("mapping", "style")


def test_spec_module_names_of_every_per_module_form():
    translation = dict(
        optimizer=dict(
            generators=dict(type="Adam", lr=2e-4), discriminators=dict(type="Adam", lr=2e-4)
        )
    )
    ddpm = dict(optimizer=dict(denoising=dict(type="AdamW", lr=1e-4)))
    mmedit = dict(optimizers=dict(generator=dict(type="Adam", lr=1e-4)))
    pggan_1x = dict(
        optim_wrapper=dict(
            constructor="PGGANOptimWrapperConstructor",
            generator=dict(optimizer=dict(type="Adam", lr=1e-3)),
            discriminator=dict(optimizer=dict(type="Adam", lr=1e-3)),
            lr_schedule=dict(generator={"128": 0.0015}, discriminator={"128": 0.0015}),
            reset_optim_for_new_scale=True,
        )
    )
    wrong_1x = dict(optim_wrapper=dict(netg=dict(type="Adam", lr=1e-4)))  # 0.x-style sub-dict
    single_1x = dict(optim_wrapper=dict(optimizer=dict(type="SGD"), clip_grad=dict(max_norm=1)))
    assert collect_probe_spec(translation).module_names == ("generators", "discriminators")
    assert collect_probe_spec(ddpm).module_names == ("denoising",)
    assert collect_probe_spec(mmedit).module_names == ("generator",)
    assert collect_probe_spec(pggan_1x).module_names == ("generator", "discriminator")
    assert collect_probe_spec(wrong_1x).module_names == ("netg",)
    assert collect_probe_spec(single_1x, cfg_0x()).module_names == ()


def test_spec_tie_only_when_no_paramwise_cfg_would_see_it_twice():
    plain = dict(optimizer=dict(type="SGD", lr=0.01))
    assert collect_probe_spec(plain, dict(optim_wrapper=dict(optimizer=plain["optimizer"])))
    assert collect_probe_spec(plain).tie_across_modules is True
    assert collect_probe_spec(cfg_0x(bypass_duplicate=True)).tie_across_modules is True
    assert collect_probe_spec(cfg_0x(bypass_duplicate=True), cfg_1x()).tie_across_modules is False
    no_keys = dict(optimizer=dict(type="SGD", paramwise_cfg=dict(norm_decay_mult=0.0)))
    assert collect_probe_spec(no_keys).tie_across_modules is False


def test_spec_reports_uncoverable_keys_and_layer_decay_names():
    spec = collect_probe_spec(cfg_0x({"a..b": {}, "ok": {}}))
    assert spec.uncoverable == ("a..b",)
    decay = dict(
        optimizer=dict(
            type="AdamW",
            constructor="LearningRateDecayOptimizerConstructor",
            paramwise_cfg=dict(decay_rate=0.9, decay_type="stage_wise", num_layers=12),
        )
    )
    spec = collect_probe_spec(decay)
    assert "backbone.cls_token" in spec.param_paths
    assert "backbone.layers.11" in spec.module_paths and "backbone.stages.2.3" in spec.module_paths
    names = {name for name, _ in constructor_names(ProbeModel(spec))}
    assert {"backbone.cls_token", "backbone.layers.11.weight", "backbone.stages.3.0.bias"} <= names


def test_spec_rejects_non_mappings():
    with pytest.raises(TypeError):
        collect_probe_spec(["not", "a", "config"])
    with pytest.raises(TypeError):
        collect_probe_spec(dict(optimizer=dict(paramwise_cfg=dict(custom_keys=["a"]))))


# ---------------------------------------------------------------------------------------------
# names covered


def test_every_custom_key_matches_and_wins_somewhere():
    probe = synthesize_probe(cfg_0x(), cfg_1x())
    names = [name for name, _ in constructor_names(probe)]
    for key in KEYS:
        assert any(key in name for name in names), key
        assert any(winning_key(name, KEYS) == key for name in names), key
    assert "probe.cls_token.weight" in names  # the leading dot needs a module before it
    assert "backbone.layer0.weight" in names and "backbone.weight" in names


def test_gan_children_each_cover_their_keys_and_names():
    probe = synthesize_probe(GAN_0X, GAN_1X)
    assert probe.module_names == ("generator", "discriminator")
    assert [name for name, _ in probe.named_children()] == ["generator", "discriminator"]
    for child_name in probe.module_names:
        child = getattr(probe, child_name)  # mmgen 0.x builds optimizers with getattr(model, k)
        names = [name for name, _ in constructor_names(child)]
        for key in ("mapping", "style"):
            assert any(winning_key(name, ["mapping", "style"]) == key for name in names)
    # Names relative to the root carry the child prefix, as the 1.x constructors see them.
    assert all(
        name.startswith(("generator.", "discriminator.")) for name, _ in probe.named_parameters()
    )


def test_bad_gan_name_is_refused():
    with pytest.raises(ValueError, match="loss"):
        ProbeModel(ProbeSpec(module_names=("loss",)))


# ---------------------------------------------------------------------------------------------
# features present


def assert_block_features(block: nn.Module, tied: bool) -> None:
    modules = list(block.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in modules)
    assert any(isinstance(m, nn.GroupNorm) for m in modules)
    assert any(isinstance(m, nn.LayerNorm) for m in modules)
    assert any(isinstance(m, nn.InstanceNorm2d) and m.affine for m in modules)
    assert any(
        isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1 and m.bias is not None
        for m in modules
    )
    names = dict(constructor_names(block))
    assert any(name.endswith(".bias") for name in names)
    assert any(
        p.dim() == 1 and not name.endswith(".bias") and p.requires_grad for name, p in names.items()
    )
    frozen = [name for name, p in names.items() if not p.requires_grad]
    assert frozen, "no frozen parameter"
    # The same Parameter under two names of one module...
    every = list(block.named_parameters(remove_duplicate=False))
    by_id: dict[int, list[str]] = {}
    for name, param in every:
        by_id.setdefault(id(param), []).append(name)
    aliased = [names_ for names_ in by_id.values() if len(names_) > 1]
    assert any(len({n.rpartition(".")[0] for n in group}) == 1 for group in aliased)
    # ...and, when allowed, one reachable from two modules.
    cross = any(len({n.rpartition(".")[0] for n in group}) > 1 for group in aliased)
    assert cross is tied


def test_plain_probe_has_every_feature():
    plain = dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4))
    assert_block_features(synthesize_probe(plain), tied=True)
    assert_block_features(synthesize_probe(cfg_0x(), cfg_1x()), tied=False)


def test_each_gan_child_has_every_feature():
    probe = synthesize_probe(GAN_0X, GAN_1X)
    for name in probe.module_names:
        assert_block_features(getattr(probe, name), tied=False)


def test_loss_reaches_every_trainable_parameter_and_module_loss_only_its_child():
    probe = synthesize_probe(GAN_0X, dict(optimizer=dict(generator=dict(type="Adam"))))
    batch = probe.make_batch(0)
    loss = probe.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, param in probe.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None, name
    probe.zero_grad(set_to_none=True)
    probe.module_loss("discriminator", batch).backward()
    for name, param in probe.named_parameters():
        assert (param.grad is not None) == (
            name.startswith("discriminator.") and param.requires_grad
        )
    total = probe.module_loss("generator", batch) + probe.module_loss("discriminator", batch)
    assert torch.allclose(probe.loss(batch), total)
    assert torch.equal(probe(batch, "generator"), probe.module_loss("generator", batch))
    with pytest.raises(KeyError):
        probe.module_loss("nope", batch)


def test_key_params_are_trained_in_a_plain_probe():
    probe = synthesize_probe(cfg_0x())
    probe.loss(probe.make_batch(3)).backward()
    grads = {name: p.grad for name, p in probe.named_parameters()}
    assert grads["backbone.stages.0.blocks.11.norm.weight"].abs().sum() > 0
    assert grads["probe.cls_token.bias"].abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_model_and_data_other_seed_differs():
    a = synthesize_probe(cfg_0x(), seed=7)
    b = synthesize_probe(cfg_0x(), seed=7)
    c = synthesize_probe(cfg_0x(), seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if k.endswith("weight"))
    assert torch.equal(a.make_batch(5), b.make_batch(5))
    assert not torch.equal(a.make_batch(5), a.make_batch(6))
    assert not torch.equal(a.make_batch(5), c.make_batch(5))
    assert torch.equal(a.loss(a.make_batch(2)), b.loss(b.make_batch(2)))
    assert [x.shape for x in a.batches(3, batch_size=5)] == [torch.Size([5, 4, 4, 4])] * 3


def test_values_depend_on_name_not_on_the_other_keys():
    small = dict(synthesize_probe(cfg_0x({"head": {}})).named_parameters())
    large = dict(synthesize_probe(cfg_0x({"head": {}, "backbone": {}})).named_parameters())
    assert set(small) < set(large)
    assert all(torch.equal(small[name], large[name]) for name in small)


def test_training_is_reproducible_and_reset_restores_values():
    def train(probe):
        opt = torch.optim.SGD(probe.parameters(), lr=0.1, momentum=0.9)
        for batch in probe.batches(3):
            opt.zero_grad()
            probe.loss(batch).backward()
            opt.step()
        return {k: v.clone() for k, v in probe.state_dict().items()}

    first, second = synthesize_probe(GAN_0X, seed=3), synthesize_probe(GAN_0X, seed=3)
    initial = {k: v.clone() for k, v in first.state_dict().items()}
    one, two = train(first), train(second)
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert any(not torch.equal(one[k], initial[k]) for k in one)
    first.reset_parameters()
    assert all(torch.equal(first.state_dict()[k], initial[k]) for k in initial)


def test_construction_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    synthesize_probe(cfg_0x(), GAN_1X)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------------------------
# with a real optimizer constructor (mmengine-lite is a test-only dependency)


def test_mmengine_constructor_applies_every_custom_key():
    optim = pytest.importorskip("mmengine.optim")
    probe = synthesize_probe(cfg_1x())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = optim.build_optim_wrapper(probe, cfg_1x()["optim_wrapper"])
    name_of = {id(param): name for name, param in constructor_names(probe)}
    applied = {
        name_of[id(param)]: (group["lr"], group["weight_decay"])
        for group in wrapper.optimizer.param_groups
        for param in group["params"]
    }
    for key, options in KEYS.items():
        won = [name for name in applied if winning_key(name, KEYS) == key]
        assert won, key
        expected = (1e-4 * options.get("lr_mult", 1.0), 0.05 * options.get("decay_mult", 1.0))
        assert all(applied[name] == pytest.approx(expected) for name in won), key


def test_tied_weights_need_bypass_duplicate_in_mmengine():
    optim = pytest.importorskip("mmengine.optim")
    tied_spec = replace(collect_probe_spec(cfg_1x()), tie_across_modules=True)
    probe = ProbeModel(tied_spec)
    cfg = cfg_1x()["optim_wrapper"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="more than one parameter group"):
            optim.build_optim_wrapper(probe, cfg)
        cfg["paramwise_cfg"]["bypass_duplicate"] = True
        assert synthesize_probe(cfg_1x(bypass_duplicate=True)).tied
        optim.build_optim_wrapper(probe, cfg)


# ---------------------------------------------------------------------------------------------
# every config of the corpus


@pytest.mark.corpus
@pytest.mark.parametrize("name", list(CORPORA))
def test_probe_covers_every_corpus_config(name):
    checked = 0
    for path in corpus_files(name):
        try:
            cfg = load_config(path)
        except ConfigError:
            continue  # a published config with a missing base: covered by tests/config
        spec = collect_probe_spec(cfg)
        if not (spec.custom_keys or spec.module_names):
            continue
        probe = ProbeModel(spec)
        blocks = [getattr(probe, n) for n in spec.module_names] or [probe]
        for block in blocks:
            names = [n for n, _ in constructor_names(block)]
            for key in spec.custom_keys:
                assert any(winning_key(n, spec.custom_keys) == key for n in names), (path, key)
        checked += 1
    assert checked > 0
