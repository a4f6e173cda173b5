"""Layer-wise lr decay constructors of both eras (mmseg 0.30 / mmdet 2.28 and their 1.x ports)."""

from __future__ import annotations

import pytest
import torch

from migrate_optim.runtime import build_optim_wrapper
from migrate_optim.runtime.layer_decay import (
    layer_id_for_convnext,
    layer_id_for_vit,
    stage_id_for_convnext,
)
from migrate_optim.runtime.legacy.constructor import build_optimizer
from migrate_optim.verify.api import VerifyOptions, verify_configs
from migrate_optim.verify.probe import synthesize_probe


@pytest.mark.parametrize(
    ("name", "layer", "stage"),
    [
        ("backbone.cls_token", 0, 0),
        ("backbone.downsample_layers.0.weight", 0, 0),
        ("backbone.downsample_layers.1.weight", 2, 0),
        ("backbone.downsample_layers.2.weight", 3, 0),
        ("backbone.downsample_layers.3.weight", 12, 0),
        ("backbone.stages.0.0.weight", 1, 1),
        ("backbone.stages.1.2.weight", 2, 2),
        ("backbone.stages.2.7.weight", 5, 3),
        ("backbone.stages.3.1.weight", 12, 4),
        ("decode_head.conv_seg.weight", 13, 13),
    ],
)
def test_convnext_layer_and_stage_ids(name: str, layer: int, stage: int) -> None:
    # upstream passes num_layers to the layer-wise rule and num_layers + 2 to the stage-wise one
    assert layer_id_for_convnext(name, 12) == layer
    assert stage_id_for_convnext(name, 14) == stage


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("backbone.pos_embed", 0),
        ("backbone.patch_embed.projection.weight", 0),
        ("backbone.layers.0.attn.qkv.weight", 1),
        ("backbone.layers.11.ffn.weight", 12),
        ("decode_head.conv_seg.weight", 13),
    ],
)
def test_vit_layer_ids(name: str, layer: int) -> None:
    assert layer_id_for_vit(name, 14) == layer


def _cfgs(constructor: str, backbone: str, paramwise: dict, new_paramwise: dict | None = None):
    optimizer = dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    model = dict(type="EncoderDecoder", backbone=dict(type=backbone))
    old = dict(
        model=model,
        optimizer=dict(optimizer, constructor=constructor, paramwise_cfg=paramwise),
        optimizer_config=dict(),
    )
    new = dict(
        model=model,
        optim_wrapper=dict(
            type="OptimWrapper",
            optimizer=optimizer,
            constructor=constructor,
            paramwise_cfg=new_paramwise or paramwise,
        ),
    )
    return old, new


@pytest.mark.parametrize("backbone", ["mmcls.ConvNeXt", "BEiT", "MAE"])
def test_both_eras_build_the_same_groups(backbone: str) -> None:
    paramwise = dict(num_layers=12, decay_rate=0.9)
    old, new = _cfgs("LearningRateDecayOptimizerConstructor", backbone, paramwise)
    model = synthesize_probe(old, new)
    assert "ConvNeXt" in type(model.backbone).__name__ or backbone in type(model.backbone).__name__
    legacy = build_optimizer(model, old["optimizer"])
    modern = build_optim_wrapper(model, new["optim_wrapper"]).optimizer
    rows = [
        (g["group_name"], g["lr"], g["weight_decay"], len(g["params"])) for g in legacy.param_groups
    ]
    assert rows == [
        (g["group_name"], g["lr"], g["weight_decay"], len(g["params"])) for g in modern.param_groups
    ]
    lrs = {name: g["lr"] for g in legacy.param_groups for name in g["param_names"]}
    num_layers = 14
    if backbone == "mmcls.ConvNeXt":
        layer = 3 + 3 // 3  # backbone.stages.2.3
        assert lrs["backbone.stages.2.3.weight"] == pytest.approx(
            1e-4 * 0.9 ** (num_layers - layer - 1)
        )
    else:
        assert lrs["backbone.layers.0.weight"] == pytest.approx(1e-4 * 0.9 ** (num_layers - 1 - 1))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and not any(n in lrs for n in frozen)


def test_unknown_backbone_is_not_implemented() -> None:
    old, _ = _cfgs(
        "LearningRateDecayOptimizerConstructor", "ResNet", dict(num_layers=4, decay_rate=0.9)
    )
    model = synthesize_probe(old)
    with pytest.raises(NotImplementedError, match="ResNet"):
        build_optimizer(model, old["optimizer"])


def test_layer_decay_rate_spelling_is_the_vit_rule() -> None:
    old, new = _cfgs(
        "LayerDecayOptimizerConstructor",
        "BEiT",
        dict(num_layers=12, layer_decay_rate=0.9),
        dict(num_layers=12, decay_rate=0.9, decay_type="layer_wise_vit"),
    )
    new["optim_wrapper"]["constructor"] = "LearningRateDecayOptimizerConstructor"
    report = verify_configs(old, new, VerifyOptions(device="cpu", steps=3), codebase="mmseg")
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]


def test_wrong_decay_rate_is_reported_as_an_lr_difference() -> None:
    old, new = _cfgs(
        "LearningRateDecayOptimizerConstructor",
        "ConvNeXt",
        dict(num_layers=12, decay_rate=0.9, decay_type="stage_wise"),
        dict(num_layers=12, decay_rate=0.8, decay_type="stage_wise"),
    )
    report = verify_configs(old, new, VerifyOptions(device="cpu", steps=3), codebase="mmseg")
    assert report.status == "different"
    messages = " ".join(d.message for d in report.differences)
    assert "backbone.stages" in messages and "lr" in messages
    same = verify_configs(
        old,
        _cfgs(
            "LearningRateDecayOptimizerConstructor",
            "ConvNeXt",
            dict(num_layers=12, decay_rate=0.9, decay_type="stage_wise"),
        )[1],
        VerifyOptions(device="cpu", steps=3),
        codebase="mmseg",
    )
    assert same.status == "equivalent"
    assert torch.is_tensor(next(synthesize_probe(old).parameters()))
