"""Differential tests against the real MMEngine 0.10.7 (the ``test`` extra, mmengine-lite).

Param groups built by ``mmengine.optim.build_optim_wrapper`` and by ours must be identical for
the same model and config (same parameters in the same order, same values for every key), and
OptimWrapper training trajectories must be bitwise identical. Skipped where mmengine is absent.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import types
from unittest import mock

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

mmengine = pytest.importorskip("mmengine")
from mmengine.logging import MessageHub, MMLogger  # noqa: E402
from mmengine.optim import OptimWrapper as MMOptimWrapper  # noqa: E402
from mmengine.optim import OptimWrapperDict as MMOptimWrapperDict  # noqa: E402
from mmengine.optim import build_optim_wrapper as mm_build  # noqa: E402

from migrate_optim.runtime import OptimWrapper, OptimWrapperDict, build_optim_wrapper  # noqa: E402
from tests.runtime import models  # noqa: E402
from tests.runtime.models import MLP, KitchenSink, describe_groups, snapshot  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _quiet_mmengine():
    # MMEngine logs every paramwise option to stdout; it is irrelevant here and slow.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@contextlib.contextmanager
def fake_mmcv():
    """Make MMEngine see our DCN stand-ins as mmcv's deformable convs.

    Only the two ``mmcv`` entries of ``sys.modules`` are swapped (``mock.patch.dict`` would also
    drop every module first imported inside the context, and torch cannot re-import some).
    """
    ops = types.ModuleType("mmcv.ops")
    ops.DeformConv2d = models.DeformConv2d
    ops.ModulatedDeformConv2d = models.ModulatedDeformConv2d
    mmcv = types.ModuleType("mmcv")
    mmcv.ops = ops
    saved = {name: sys.modules.get(name) for name in ("mmcv", "mmcv.ops")}
    sys.modules.update({"mmcv": mmcv, "mmcv.ops": ops})
    try:
        with mock.patch(
            "mmengine.optim.optimizer.default_constructor.mmcv_full_available",
            return_value=True,
        ):
            yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _outcome(build, model, cfg):
    """(described param groups, lr, momentum) or the exception type."""
    try:
        wrapper = build(model, copy.deepcopy(cfg))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc)
    return (
        type(wrapper).__name__,
        describe_groups(wrapper.optimizer.param_groups, model),
        wrapper.get_lr(),
        wrapper.get_momentum(),
    )


MULTS = st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0])
CUSTOM_KEY_NAMES = [
    "backbone",
    "backbone.conv",
    "backbone.bn",
    "conv",
    "bias",
    "head",
    "neck.ln",
    ".weight",
    ".scale",
    "embed",
    "norm",
    "gn",
    "dcn",
    "conv_offset",
    "tied",
]
custom_options = st.fixed_dictionaries(
    {},
    optional={
        "lr_mult": MULTS,
        "decay_mult": MULTS,
        "momentum": st.sampled_from([0.0, 0.5]),
        "lr": st.sampled_from([0.2, 0.3]),
    },
)
# The model shares a parameter, so without bypass_duplicate both raise torch's ValueError; that
# is compared too, but most draws bypass so that the groups themselves get compared.
paramwise_cfgs = st.fixed_dictionaries(
    {"bypass_duplicate": st.sampled_from([True, True, True, False])},
    optional={
        "custom_keys": st.dictionaries(st.sampled_from(CUSTOM_KEY_NAMES), custom_options),
        "bias_lr_mult": MULTS,
        "bias_decay_mult": MULTS,
        "norm_decay_mult": MULTS,
        "dwconv_decay_mult": MULTS,
        "flat_decay_mult": MULTS,
        "dcn_offset_lr_mult": MULTS,
    },
)
# weight_decay is absent in 1 of 5 draws (None is dropped): then any decay mult is an error.
optimizers = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["SGD", "AdamW"]),
        "lr": st.sampled_from([0.01, 0.1]),
        "weight_decay": st.sampled_from([0.0, 1e-4, 0.05, 0.05, None]),
    }
).map(lambda cfg: {k: v for k, v in cfg.items() if v is not None})
wrapper_options = st.fixed_dictionaries(
    {},
    optional={
        "accumulative_counts": st.integers(1, 4),
        "clip_grad": st.sampled_from([{"max_norm": 1.0}, {"type": "value", "clip_value": 0.5}]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paramwise_cfg=paramwise_cfgs,
    optimizer=optimizers,
    options=wrapper_options,
    with_dcn=st.booleans(),
)
def test_param_groups_match_mmengine(paramwise_cfg, optimizer, options, with_dcn):
    cfg = {"optimizer": optimizer, **options, "paramwise_cfg": paramwise_cfg}
    model = KitchenSink(with_dcn=with_dcn)
    with fake_mmcv():
        expected = _outcome(mm_build, model, cfg)
    got = _outcome(build_optim_wrapper, model, cfg)
    assert got == expected


@pytest.mark.parametrize("paramwise_cfg", [None, {}])
@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": {"type": "SGD", "lr": 0.1, "weight_decay": 0.1}},
        {
            "type": "OptimWrapper",
            "optimizer": {"type": "Adam", "lr": 0.1},
            "accumulative_counts": 3,
        },
    ],
)
def test_single_group_without_paramwise_cfg_matches_mmengine(paramwise_cfg, options):
    cfg = dict(options, paramwise_cfg=paramwise_cfg)
    model = KitchenSink(with_dcn=True)
    expected = _outcome(mm_build, model, cfg)
    assert len(expected[1]) == 1
    assert _outcome(build_optim_wrapper, model, cfg) == expected


def test_the_oracle_sees_the_fake_dcn():
    """Guards the DCN comparison above: MMEngine must apply the DCN rule to our stand-ins."""
    cfg = {
        "optimizer": {"type": "SGD", "lr": 0.1},
        "paramwise_cfg": {"dcn_offset_lr_mult": 0.5, "bypass_duplicate": True},
    }
    model = KitchenSink(with_dcn=True)
    with fake_mmcv():
        expected = _outcome(mm_build, model, cfg)
    offset = [g for g in expected[1] if g["params"] == ["dcn.conv_offset.weight"]]
    assert offset[0]["lr"] == 0.05
    assert _outcome(build_optim_wrapper, model, cfg) == expected


def test_multi_group_wrapper_state_and_readouts_match_mmengine():
    model = KitchenSink()
    cfg = {
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
        "paramwise_cfg": {"norm_decay_mult": 0.0, "bypass_duplicate": True},
    }
    ours = build_optim_wrapper(model, cfg)
    theirs = mm_build(model, copy.deepcopy(cfg))
    assert ours.get_lr() == theirs.get_lr()
    assert ours.get_momentum() == theirs.get_momentum()
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert ours_state.keys() == theirs_state.keys()
    ours_base = {k: v for k, v in ours_state["base_param_settings"].items() if k != "params"}
    theirs_base = {k: v for k, v in theirs_state["base_param_settings"].items() if k != "params"}
    assert ours_base == theirs_base
    assert len(ours.param_groups) == len(theirs.param_groups)

    ours_dict = OptimWrapperDict(a=ours, b=OptimWrapper(torch.optim.Adam(MLP().parameters())))
    theirs_dict = MMOptimWrapperDict(
        a=theirs, b=MMOptimWrapper(torch.optim.Adam(MLP().parameters()))
    )
    assert ours_dict.get_lr() == theirs_dict.get_lr()
    assert ours_dict.get_momentum() == theirs_dict.get_momentum()
    assert ours_dict.state_dict().keys() == theirs_dict.state_dict().keys()


def _trajectory(wrapper_cls, acc, clip, total, init_counts, use_count_status):
    torch.manual_seed(0)
    model = MLP(with_bn=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    wrapper = wrapper_cls(optimizer, accumulative_counts=acc, clip_grad=copy.deepcopy(clip))
    if use_count_status:
        wrapper.initialize_count_status(model, init_counts, total)
    gen = torch.Generator().manual_seed(1)
    states, flags = [], []
    for _ in range(init_counts if use_count_status else 0, total):
        x = torch.randn(4, 3, generator=gen)
        flags.append(wrapper.should_sync())
        with wrapper.optim_context(model):
            loss = model(x).pow(2).mean()
        wrapper.update_params(loss)
        flags.append(wrapper.should_update())
        states.append(snapshot(model))
    return states, flags, wrapper


CLIPS = [None, {"max_norm": 0.05}, {"type": "value", "clip_value": 0.01}]


@settings(max_examples=40, deadline=None)
@given(
    acc=st.integers(1, 4),
    clip=st.sampled_from(CLIPS),
    total=st.integers(1, 10),
    init_counts=st.integers(0, 3),
    use_count_status=st.booleans(),
)
def test_training_trajectories_match_mmengine(acc, clip, total, init_counts, use_count_status):
    init_counts = min(init_counts, total - 1)
    ours, our_flags, our_wrapper = _trajectory(
        OptimWrapper, acc, clip, total, init_counts, use_count_status
    )
    theirs, their_flags, _ = _trajectory(
        MMOptimWrapper, acc, clip, total, init_counts, use_count_status
    )
    assert our_flags == their_flags
    for mine, ref in zip(ours, theirs, strict=True):
        for p, q in zip(mine, ref, strict=True):
            assert torch.equal(p, q)
    if clip is not None and "max_norm" in clip and our_wrapper.last_grad_norm is not None:
        logged = MessageHub.get_current_instance().get_scalar("train/grad_norm").current()
        assert our_wrapper.last_grad_norm == pytest.approx(logged)


@settings(max_examples=60, deadline=None)
@given(acc=st.integers(1, 5), init=st.integers(0, 12), extra=st.integers(1, 12))
def test_scale_loss_and_update_decisions_match_mmengine(acc, init, extra):
    total = init + extra
    model = nn.Linear(1, 1)
    ours = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=acc)
    theirs = MMOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=acc)
    for wrapper in (ours, theirs):
        wrapper.initialize_count_status(model, init, total)
    one = torch.tensor(6.0)
    for _ in range(extra):
        decisions = []
        for wrapper in (ours, theirs):
            try:
                scaled = wrapper.scale_loss(one).item()
            except AssertionError:
                scaled = "assert"
            decisions.append((scaled, wrapper.should_sync()))
            wrapper._inner_count += 1
            decisions[-1] += (wrapper.should_update(),)
        assert decisions[0] == decisions[1]
