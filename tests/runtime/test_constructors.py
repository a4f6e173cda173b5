"""DefaultOptimWrapperConstructor and build_optim_wrapper, against hand-derived expectations."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
import torch.nn as nn

from migrate_optim.runtime import (
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIMIZERS,
    AmpOptimWrapper,
    DefaultOptimWrapperConstructor,
    OptimWrapper,
    build_optim_wrapper,
)
from tests.runtime.models import FakeDDP, KitchenSink, describe_groups

LOGGER = "migrate_optim.runtime"
LR, WD = 0.01, 0.1

TRAINABLE = [
    "scale",
    "pos_embed",
    "backbone.conv.weight",
    "backbone.conv.bias",
    "backbone.bn.weight",
    "backbone.bn.bias",
    "backbone.dwconv.weight",
    "backbone.dwconv.bias",
    "backbone.gn.weight",
    "backbone.gn.bias",
    "backbone.conv_nobias.weight",
    "backbone.conv1d_dw.weight",
    "backbone.conv1d_dw.bias",
    "neck.ln.weight",
    "neck.ln.bias",
    "neck.inorm.weight",
    "neck.inorm.bias",
    "neck.linear.weight",
    "neck.linear.bias",
    "head.weight",
    "head.bias",
    "frozen.bias",
]
NORM = {n for n in TRAINABLE if n.split(".")[-2:-1] in (["bn"], ["gn"], ["ln"], ["inorm"])}
BIASES = {n for n in TRAINABLE if n.endswith(".bias")}


def _groups(paramwise_cfg, optimizer=None, model=None):
    model = model or KitchenSink()
    cfg = {
        "optimizer": optimizer or {"type": "SGD", "lr": LR, "weight_decay": WD, "momentum": 0.9},
        "paramwise_cfg": paramwise_cfg,
    }
    wrapper = build_optim_wrapper(model, cfg)
    described = describe_groups(wrapper.optimizer.param_groups, model)
    assert all(len(g["params"]) == 1 for g in described)
    return {g["params"][0]: g for g in described}, wrapper


def test_without_paramwise_cfg_one_group_with_all_parameters():
    model = KitchenSink()
    wrapper = build_optim_wrapper(model, {"optimizer": {"type": "SGD", "lr": LR}})
    assert len(wrapper.optimizer.param_groups) == 1
    params = wrapper.optimizer.param_groups[0]["params"]
    assert [id(p) for p in params] == [id(p) for p in model.parameters()]
    assert any(p is model.frozen.weight for p in params)  # kept without paramwise_cfg


def test_paramwise_groups_follow_module_order_and_skip_frozen(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    groups, _ = _groups({"bypass_duplicate": True})
    assert list(groups) == TRAINABLE
    assert all(g["lr"] == LR and g["weight_decay"] == WD for g in groups.values())
    messages = [r.getMessage() for r in caplog.records]
    assert any("frozen.weight" in m and "requires_grad=False" in m for m in messages)
    assert any("tied.weight" in m and "duplicate" in m for m in messages)


def test_shared_parameter_without_bypass_duplicate_is_rejected_by_torch():
    with pytest.raises(ValueError, match="more than one parameter group"):
        _groups({"norm_decay_mult": 0.0})


def test_bias_decay_mult_alone_also_hits_norm_and_depthwise_biases():
    groups, _ = _groups({"bias_decay_mult": 0.5, "bypass_duplicate": True})
    for name, group in groups.items():
        assert group["weight_decay"] == (WD * 0.5 if name in BIASES else WD), name


def test_weight_decay_rule_order():
    groups, _ = _groups(
        {
            "norm_decay_mult": 0.0,
            "bias_decay_mult": 0.5,
            "dwconv_decay_mult": 0.25,
            "flat_decay_mult": 2.0,
            "bypass_duplicate": True,
        }
    )
    expected = {name: WD for name in TRAINABLE}
    expected.update({name: 0.0 for name in NORM})
    expected.update({name: WD * 0.5 for name in BIASES - NORM})  # dwconv bias: bias rule first
    expected["backbone.dwconv.weight"] = WD * 0.25
    expected["scale"] = WD * 2.0  # the only 1-D non-bias, non-norm parameter
    assert {n: g["weight_decay"] for n, g in groups.items()} == expected


def test_bias_lr_mult_skips_norm_biases():
    groups, _ = _groups({"bias_lr_mult": 2.0, "bypass_duplicate": True})
    for name, group in groups.items():
        expected = LR * 2.0 if name in BIASES - NORM else LR
        assert group["lr"] == expected, name


def test_only_configured_options_are_written(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    model = KitchenSink()
    wrapper = build_optim_wrapper(
        model,
        {
            "optimizer": {"type": "SGD", "lr": LR, "weight_decay": WD},
            "paramwise_cfg": {"dwconv_decay_mult": 0.0, "bypass_duplicate": True},
        },
    )
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert logged == [
        "paramwise_options -- backbone.dwconv.weight:weight_decay=0.0",
        "paramwise_options -- backbone.dwconv.bias:weight_decay=0.0",
    ]
    assert len(wrapper.optimizer.param_groups) == len(TRAINABLE)


def test_custom_keys_longest_then_alphabetical_and_copied_into_groups():
    custom_keys = {
        "backbone": {"lr_mult": 0.1},
        "backbone.conv": {"decay_mult": 0.5},
        "conv": {"lr_mult": 3.0},
        "bias": {"lr_mult": 4.0},
        "head": {"lr": 0.3, "momentum": 0.5},
        ".scale": {"decay_mult": 0.0, "lr_mult": 0.0},
    }
    groups, _ = _groups(
        {"custom_keys": custom_keys, "norm_decay_mult": 0.0, "bypass_duplicate": True}
    )

    conv_w = groups["backbone.conv.weight"]
    assert (conv_w["lr"], conv_w["weight_decay"], conv_w["decay_mult"]) == (LR, WD * 0.5, 0.5)
    assert "lr_mult" not in conv_w
    # 'backbone.conv' is a substring of these too, and longer than 'backbone'.
    assert groups["backbone.conv_nobias.weight"]["decay_mult"] == 0.5
    assert groups["backbone.conv1d_dw.bias"]["weight_decay"] == WD * 0.5
    # Custom keys bypass the other rules: no norm_decay_mult for a matched norm layer.
    assert groups["backbone.bn.bias"]["weight_decay"] == WD
    assert groups["backbone.bn.bias"]["lr"] == pytest.approx(LR * 0.1)
    # 'bias' and 'conv' have the same length: alphabetical order picks 'bias'.
    assert groups["neck.linear.bias"]["lr"] == LR * 4.0
    assert groups["neck.linear.bias"]["weight_decay"] == WD
    # Every key of the custom dict lands in the group and overrides computed values.
    head = groups["head.weight"]
    assert (head["lr"], head["momentum"], head["weight_decay"]) == (0.3, 0.5, WD)
    # Top-level parameters are matched as '.name'.
    assert (groups["scale"]["lr"], groups["scale"]["weight_decay"]) == (0.0, 0.0)
    # Unmatched parameters fall back to the rules.
    assert groups["neck.ln.weight"]["weight_decay"] == 0.0
    assert groups["neck.ln.weight"]["lr"] == LR and "lr_mult" not in groups["neck.ln.weight"]
    assert groups["frozen.bias"]["lr"] == LR * 4.0  # 'bias' is a substring of it


def test_custom_keys_without_weight_decay_leave_it_unset():
    groups, _ = _groups(
        {"custom_keys": {"head": {"lr_mult": 0.5}}, "bypass_duplicate": True},
        optimizer={"type": "SGD", "lr": LR},
    )
    assert groups["head.weight"]["lr"] == LR * 0.5
    assert groups["head.weight"]["weight_decay"] == 0  # SGD's default, not a computed value


def test_dcn_rules():
    model = KitchenSink(with_dcn=True)
    groups, _ = _groups(
        {
            "dcn_offset_lr_mult": 0.1,
            "bias_lr_mult": 2.0,
            "bias_decay_mult": 0.0,
            "flat_decay_mult": 0.5,
            "bypass_duplicate": True,
        },
        model=model,
    )
    for dcn in ("dcn", "mdcn", "dcn_pack"):
        offset_w = groups[f"{dcn}.conv_offset.weight"]
        offset_b = groups[f"{dcn}.conv_offset.bias"]
        assert offset_w["lr"] == offset_b["lr"] == pytest.approx(LR * 0.1)
        # Inside a DCN neither the bias rules nor the flat rule apply.
        assert offset_b["weight_decay"] == offset_w["weight_decay"] == WD
        # The DCN's own bias is an ordinary bias (its parent is not a DCN).
        assert groups[f"{dcn}.bias"]["lr"] == LR * 2.0
        assert groups[f"{dcn}.bias"]["weight_decay"] == 0.0


def test_dcn_offset_rule_needs_a_dcn_parent():
    model = KitchenSink()
    model.neck["conv_offset"] = nn.Conv2d(4, 4, 1)
    groups, _ = _groups({"dcn_offset_lr_mult": 0.1, "bypass_duplicate": True}, model=model)
    assert groups["neck.conv_offset.weight"]["lr"] == LR


@pytest.mark.parametrize(
    "paramwise_cfg",
    [
        {"bias_decay_mult": 0.0},
        {"norm_decay_mult": 0.0},
        {"dwconv_decay_mult": 0.0},
        {"custom_keys": {"head": {"decay_mult": 0.0}}},
    ],
)
def test_decay_mult_without_weight_decay_is_an_error(paramwise_cfg):
    with pytest.raises(ValueError, match="base_wd"):
        DefaultOptimWrapperConstructor({"optimizer": {"type": "SGD", "lr": LR}}, paramwise_cfg)


def test_flat_decay_mult_without_weight_decay_is_ignored():
    groups, _ = _groups(
        {"flat_decay_mult": 0.0, "bypass_duplicate": True}, optimizer={"type": "SGD", "lr": LR}
    )
    assert all(g["weight_decay"] == 0 for g in groups.values())


def test_invalid_configs():
    with pytest.raises(TypeError):
        DefaultOptimWrapperConstructor([("optimizer", {})])
    with pytest.raises(AssertionError, match="optimizer"):
        DefaultOptimWrapperConstructor({"type": "OptimWrapper"})
    with pytest.raises(TypeError):
        DefaultOptimWrapperConstructor({"optimizer": {"type": "SGD"}}, paramwise_cfg=[1])
    with pytest.raises(TypeError):
        DefaultOptimWrapperConstructor({"optimizer": {"type": "SGD"}}, {"custom_keys": ["a"]})
    with pytest.raises(KeyError, match="NoSuchOptim"):
        build_optim_wrapper(nn.Linear(1, 1), {"optimizer": {"type": "NoSuchOptim", "lr": 1}})
    # A multiplier needs a base lr, as in MMEngine.
    with pytest.raises(TypeError):
        build_optim_wrapper(
            nn.Linear(1, 1),
            {"optimizer": {"type": "SGD"}, "paramwise_cfg": {"bias_lr_mult": 2.0}},
        )


def test_constructor_attributes_and_no_mutation():
    cfg = {"type": "OptimWrapper", "optimizer": {"type": "SGD", "lr": LR, "weight_decay": WD}}
    original = copy.deepcopy(cfg)
    constructor = DefaultOptimWrapperConstructor(cfg)
    assert cfg == original
    assert (constructor.base_lr, constructor.base_wd) == (LR, WD)
    assert constructor.paramwise_cfg == {}
    assert constructor.optimizer_cfg == original["optimizer"]
    assert constructor.optim_wrapper_cfg == {"type": "OptimWrapper"}
    first = constructor(nn.Linear(1, 1))
    second = constructor(nn.Linear(1, 1))
    assert first.optimizer is not second.optimizer


class FirstArgSGD(torch.optim.SGD):
    """An optimizer whose first parameter is not called ``params``."""

    def __init__(self, model_params, lr=0.1):
        super().__init__(model_params, lr=lr)


def test_parameters_passed_under_the_first_argument_name():
    OPTIMIZERS.register_module(module=FirstArgSGD, force=True)
    try:
        model = nn.Linear(2, 2)
        wrapper = build_optim_wrapper(model, {"optimizer": {"type": "FirstArgSGD", "lr": 0.2}})
        assert isinstance(wrapper.optimizer, FirstArgSGD)
        paramwise = build_optim_wrapper(
            model,
            {"optimizer": {"type": FirstArgSGD, "lr": 0.1}, "paramwise_cfg": {"bias_lr_mult": 2.0}},
        )
        assert paramwise.get_lr() == {"base_lr": [0.1], "lr": [0.1, 0.2]}
    finally:
        OPTIMIZERS.module_dict.pop("FirstArgSGD", None)


def test_wrapped_model_is_unwrapped_and_wrapper_options_pass_through():
    model = KitchenSink()
    wrapper = build_optim_wrapper(
        FakeDDP(model),
        {
            "type": "AmpOptimWrapper",
            "optimizer": {"type": "AdamW", "lr": LR, "weight_decay": WD},
            "accumulative_counts": 4,
            "clip_grad": {"max_norm": 1.0},
            "loss_scale": 64.0,
            "dtype": "bfloat16",
            "paramwise_cfg": {"norm_decay_mult": 0.0, "bypass_duplicate": True},
        },
    )
    assert type(wrapper) is AmpOptimWrapper
    assert wrapper._accumulative_counts == 4
    assert wrapper.clip_grad_kwargs == {"max_norm": 1.0}
    assert wrapper.loss_scaler.get_scale() == 64.0
    assert wrapper.cast_dtype is torch.bfloat16
    names = [g["params"][0] for g in describe_groups(wrapper.optimizer.param_groups, model)]
    assert names == TRAINABLE


def test_build_optim_wrapper_deep_copies_and_accepts_constructor_classes():
    calls = []

    class Recording(DefaultOptimWrapperConstructor):
        def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
            calls.append((copy.deepcopy(optim_wrapper_cfg), paramwise_cfg))
            optim_wrapper_cfg["optimizer"]["lr"] = 123.0  # must not leak into the caller's cfg
            super().__init__(optim_wrapper_cfg, paramwise_cfg)

    cfg = {
        "constructor": Recording,
        "optimizer": {"type": "SGD", "lr": LR},
        "paramwise_cfg": {"bias_lr_mult": 2.0},
        "accumulative_counts": 2,
    }
    original = copy.deepcopy(cfg)
    wrapper = build_optim_wrapper(nn.Linear(1, 1), cfg)
    assert cfg == original
    assert calls == [
        ({"optimizer": {"type": "SGD", "lr": LR}, "accumulative_counts": 2}, {"bias_lr_mult": 2.0})
    ]
    assert isinstance(wrapper, OptimWrapper) and wrapper.get_lr()["lr"] == [123.0, 246.0]


def test_registered_constructor_by_name():
    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
    class FixedLrConstructor(DefaultOptimWrapperConstructor):
        def add_params(self, params, module, prefix="", is_dcn_module=None):
            params.extend({"params": [p], "lr": 0.5} for p in module.parameters())

    try:
        wrapper = build_optim_wrapper(
            nn.Linear(1, 1),
            {
                "constructor": "FixedLrConstructor",
                "optimizer": {"type": "SGD", "lr": LR},
                "paramwise_cfg": {"anything": 1},
            },
        )
        assert wrapper.get_lr() == {"base_lr": [LR], "lr": [0.5, 0.5]}
    finally:
        OPTIM_WRAPPER_CONSTRUCTORS.module_dict.pop("FixedLrConstructor", None)
