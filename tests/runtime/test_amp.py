"""AmpOptimWrapper for real on CPU (bfloat16 autocast + torch.amp.GradScaler('cpu')).

The reference loops use torch's autocast and GradScaler directly; the CUDA variants run only
where a GPU exists.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from migrate_optim.runtime import AmpOptimWrapper, OptimWrapper
from tests.runtime.models import MLP, FakeDDP, assert_same, snapshot

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ],
    ),
]


def _make(device: str = "cpu", seed: int = 0):
    torch.manual_seed(seed)
    model = MLP().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer


def _data(n: int, device: str = "cpu") -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return [torch.randn(4, 3, generator=gen).to(device) for _ in range(n)]


def _loss(output: torch.Tensor) -> torch.Tensor:
    return output.float().pow(2).mean()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("acc", "total"), [(1, 4), (3, 7)])
@pytest.mark.parametrize("clip", [False, True])
def test_training_matches_autocast_and_grad_scaler_loop(device, acc, total, clip):
    xs = _data(total, device)
    model, optimizer = _make(device)
    ref_model, ref_optimizer = _make(device)
    scaler = torch.amp.GradScaler(device, growth_interval=2)
    ref_norms = []
    remainder = total % acc
    for i, x in enumerate(xs):
        with torch.autocast(device):
            loss = _loss(ref_model(x))
        if acc > 1:
            loss = loss / (acc if i < total - remainder else remainder)
        scaler.scale(loss).backward()
        if (i + 1) % acc == 0 or i + 1 == total:
            if clip:
                scaler.unscale_(ref_optimizer)
                ref_norms.append(torch.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.05))
            scaler.step(ref_optimizer)
            scaler.update()
            ref_optimizer.zero_grad()

    wrapper = AmpOptimWrapper(
        optimizer=optimizer,
        accumulative_counts=acc,
        loss_scale={"growth_interval": 2},
        clip_grad={"max_norm": 0.05} if clip else None,
    )
    wrapper.initialize_count_status(model, 0, total)
    for x in xs:
        with wrapper.optim_context(model):
            out = model(x)
            if device == "cpu":
                assert out.dtype == torch.bfloat16
        wrapper.update_params(_loss(out))

    assert_same(snapshot(model), snapshot(ref_model))
    assert wrapper.loss_scaler.get_scale() == scaler.get_scale()
    if clip:
        assert wrapper.last_grad_norm == pytest.approx(float(ref_norms[-1]))


def test_cpu_defaults_bfloat16_and_cpu_scaler():
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer)
    assert wrapper.device_type == "cpu"
    assert wrapper.cast_dtype is None
    assert isinstance(wrapper.loss_scaler, torch.amp.GradScaler)
    assert wrapper.loss_scaler.get_scale() == 65536.0
    assert not torch.is_autocast_enabled("cpu")
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("bfloat16", torch.bfloat16), (torch.bfloat16, torch.bfloat16), ("float16", torch.float16)],
)
def test_dtype_argument(dtype, expected):
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer, dtype=dtype)
    assert wrapper.cast_dtype == expected
    with wrapper.optim_context(model):
        assert model(torch.ones(2, 3)).dtype == expected


def test_dtype_validation():
    _, optimizer = _make()
    with pytest.raises(AssertionError):
        AmpOptimWrapper(optimizer=optimizer, dtype="half")
    with pytest.raises(AssertionError):
        AmpOptimWrapper(optimizer=optimizer, dtype=16)


@pytest.mark.parametrize("loss_scale", [512, "static", None, [1.0]])
def test_loss_scale_must_be_float_dict_or_dynamic(loss_scale):
    _, optimizer = _make()
    with pytest.raises(TypeError, match="loss_scale"):
        AmpOptimWrapper(optimizer=optimizer, loss_scale=loss_scale)


def test_loss_scale_dict_configures_the_scaler():
    _, optimizer = _make()
    wrapper = AmpOptimWrapper(
        optimizer=optimizer, loss_scale={"init_scale": 8.0, "growth_factor": 4.0}
    )
    state = wrapper.loss_scaler.state_dict()
    assert (state["scale"], state["growth_factor"]) == (8.0, 4.0)


def _poisoned_step(wrapper, model):
    """One iteration whose gradients are infinite."""
    with wrapper.optim_context(model):
        out = model(torch.ones(2, 3))
    wrapper.update_params(_loss(out) * float("inf"))


def test_dynamic_scale_backs_off_and_skips_step_on_inf():
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer)
    before = snapshot(model)
    _poisoned_step(wrapper, model)
    assert_same(snapshot(model), before)
    assert wrapper.loss_scaler.get_scale() == 32768.0


def test_dynamic_scale_grows_after_growth_interval():
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale={"growth_interval": 3})
    for i, x in enumerate(_data(6)):
        with wrapper.optim_context(model):
            out = model(x)
        wrapper.update_params(_loss(out))
        assert wrapper.loss_scaler.get_scale() == 65536.0 * 2 ** ((i + 1) // 3)


def test_static_scale_is_reset_after_every_step():
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale=512.0)
    before = snapshot(model)
    _poisoned_step(wrapper, model)
    assert_same(snapshot(model), before)  # the inf step is still skipped
    assert wrapper.loss_scaler.get_scale() == 512.0
    for x in _data(3):
        with wrapper.optim_context(model):
            out = model(x)
        wrapper.update_params(_loss(out))
        assert wrapper.loss_scaler.get_scale() == 512.0
    assert not torch.equal(snapshot(model)[0], before[0])


def test_state_dict_saves_and_restores_the_scaler():
    model, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale={"growth_interval": 2})
    for x in _data(3):
        with wrapper.optim_context(model):
            out = model(x)
        wrapper.update_params(_loss(out))
    _poisoned_step(wrapper, model)
    state = copy.deepcopy(wrapper.state_dict())
    assert state["loss_scaler"] == wrapper.loss_scaler.state_dict()
    assert state["loss_scaler"]["scale"] == 65536.0  # grew to 131072 after 2 steps, then halved
    assert state["loss_scaler"]["_growth_tracker"] == 0

    model2, optimizer2 = _make(seed=1)
    model2.load_state_dict(model.state_dict())
    wrapper2 = AmpOptimWrapper(optimizer=optimizer2)
    keys = set(state)
    wrapper2.load_state_dict(state)
    assert set(state) == keys
    assert wrapper2.loss_scaler.state_dict() == wrapper.loss_scaler.state_dict()
    assert wrapper2.optimizer.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()

    x = _data(4)[3]
    for m, w in ((model, wrapper), (model2, wrapper2)):
        with w.optim_context(m):
            out = m(x)
        w.update_params(_loss(out))
    assert_same(snapshot(model), snapshot(model2))


def test_state_dict_with_several_groups_keeps_base_param_settings():
    model, _ = _make()
    optimizer = torch.optim.SGD(
        [{"params": model.fc1.parameters()}, {"params": model.fc2.parameters(), "lr": 1.0}],
        lr=0.1,
    )
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale=128.0)
    state = wrapper.state_dict()
    assert {"loss_scaler", "base_param_settings"} <= set(state)
    assert wrapper.get_lr() == {"base_lr": [0.1], "lr": [0.1, 1.0]}
    state["base_param_settings"] = dict(state["base_param_settings"], lr=0.05)
    state["loss_scaler"] = dict(state["loss_scaler"], scale=64.0)
    wrapper.load_state_dict(state)
    assert wrapper.get_lr()["base_lr"] == [0.05]
    assert wrapper.loss_scaler.get_scale() == 64.0


def test_optim_context_combines_no_sync_and_autocast():
    model, optimizer = _make()
    ddp = FakeDDP(model)
    wrapper = AmpOptimWrapper(optimizer=optimizer, accumulative_counts=2)
    seen = []
    for x in _data(4):
        with wrapper.optim_context(ddp):
            seen.append((ddp.in_no_sync, torch.is_autocast_enabled("cpu")))
            out = ddp(x)
        wrapper.update_params(_loss(out))
    assert seen == [(True, True), (False, True), (True, True), (False, True)]


def test_is_an_optim_wrapper_and_fsdp_scaler():
    from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

    _, optimizer = _make()
    wrapper = AmpOptimWrapper(optimizer=optimizer, use_fsdp=True, loss_scale=256.0)
    assert isinstance(wrapper, OptimWrapper)
    assert isinstance(wrapper.loss_scaler, ShardedGradScaler)
    assert wrapper.loss_scaler.get_scale() == 256.0


def test_device_comes_from_the_parameters():
    model = nn.Linear(2, 2).to(torch.float32)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert wrapper.device_type == "cpu"
    assert wrapper.loss_scaler._device == "cpu"
