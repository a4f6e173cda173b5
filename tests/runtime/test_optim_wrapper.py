"""OptimWrapper behaviour: accumulation, clipping, sync control, lr/momentum, state dicts."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
import torch.nn as nn

from migrate_optim.runtime import OptimWrapper
from tests.runtime.models import MLP, FakeDDP, assert_same, snapshot

LOGGER = "migrate_optim.runtime"


def _data(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(4, 3, generator=gen) for _ in range(n)]


def _loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).pow(2).mean()


def _make(seed: int = 0, with_bn: bool = False):
    torch.manual_seed(seed)
    model = MLP(with_bn=with_bn)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    return model, optimizer


def _plain_accumulation(model, optimizer, xs, acc, total, clip=None):
    """Hand-written GradientCumulativeOptimizerHook semantics, per-iteration snapshots."""
    remainder = total % acc
    snapshots = []
    for i, x in enumerate(xs):
        factor = acc if i < total - remainder else remainder
        loss = _loss(model, x)
        if acc > 1:
            loss = loss / factor
        loss.backward()
        if (i + 1) % acc == 0 or i + 1 == total:
            if clip == "norm":
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.05)
            elif clip == "value":
                torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.01)
            optimizer.step()
            optimizer.zero_grad()
        snapshots.append(snapshot(model))
    return snapshots


CLIP_CFG = {
    None: None,
    "norm": {"max_norm": 0.05},
    "value": {"type": "value", "clip_value": 0.01},
}


@pytest.mark.parametrize("clip", [None, "norm", "value"])
@pytest.mark.parametrize(("acc", "total"), [(1, 5), (2, 7), (3, 10), (4, 10), (3, 9), (5, 3)])
def test_accumulation_with_remainder_matches_plain_loop(acc, total, clip):
    xs = _data(total)
    model, optimizer = _make()
    ref_model, ref_optimizer = _make()
    expected = _plain_accumulation(ref_model, ref_optimizer, xs, acc, total, clip)

    wrapper = OptimWrapper(optimizer, accumulative_counts=acc, clip_grad=CLIP_CFG[clip])
    wrapper.initialize_count_status(model, 0, total)
    for i, x in enumerate(xs):
        with wrapper.optim_context(model):
            loss = _loss(model, x)
        wrapper.update_params(loss)
        assert_same(snapshot(model), expected[i])
    assert wrapper.inner_count == total


def test_without_count_status_the_last_partial_window_never_steps():
    xs = _data(7)
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=3)
    for x in xs[:6]:
        wrapper.update_params(_loss(model, x))
    after_six = snapshot(model)
    wrapper.update_params(_loss(model, xs[6]))
    assert_same(snapshot(model), after_six)
    # The 7th gradient was divided by the full window length and is still pending.
    ref_model, _ = _make()
    ref_model.load_state_dict({k: v for k, v in model.state_dict().items()})
    expected_grad = torch.autograd.grad(_loss(ref_model, xs[6]) / 3, ref_model.fc2.bias)[0]
    torch.testing.assert_close(model.fc2.bias.grad, expected_grad)


def test_resume_in_the_middle_of_a_window_matches_plain_loop_and_warns(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    xs = _data(10)
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=4)
    wrapper.initialize_count_status(model, 5, 10)
    assert any("not divisible" in r.getMessage() for r in caplog.records)

    ref_model, ref_optimizer = _make()
    for i in range(5, 10):
        # Iterations 5..7 complete the window ending at 8 with factor 4; 8 and 9 form the
        # remainder window of length 10 % 4 = 2.
        factor = 4 if i < 8 else 2
        (_loss(ref_model, xs[i]) / factor).backward()
        if (i + 1) % 4 == 0 or i + 1 == 10:
            ref_optimizer.step()
            ref_optimizer.zero_grad()
        wrapper.update_params(_loss(model, xs[i]))
        assert_same(snapshot(model), snapshot(ref_model))


def test_batch_norm_warning_only_when_accumulating(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    model, optimizer = _make(with_bn=True)
    OptimWrapper(optimizer, accumulative_counts=1).initialize_count_status(model, 0, 10)
    assert not caplog.records
    OptimWrapper(optimizer, accumulative_counts=2).initialize_count_status(model, 0, 10)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "BatchNorm" in caplog.records[0].getMessage()
    caplog.clear()
    plain, plain_opt = _make(with_bn=False)
    OptimWrapper(plain_opt, accumulative_counts=2).initialize_count_status(plain, 0, 10)
    assert not caplog.records


def test_should_update_and_should_sync_sequences():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=3)
    wrapper.initialize_count_status(model, 0, 7)
    syncs, updates = [], []
    for _ in range(7):
        syncs.append(wrapper.should_sync())
        wrapper.backward(_loss(model, torch.ones(1, 3)))
        updates.append(wrapper.should_update())
    expected = [False, False, True, False, False, True, True]
    assert syncs == expected
    assert updates == expected


def test_scale_loss_factors():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=3)
    one = torch.tensor(1.0)
    assert wrapper.scale_loss(one).item() == pytest.approx(1 / 3)  # total unknown: always 3
    wrapper.initialize_count_status(model, 0, 8)
    factors = []
    for _ in range(8):
        factors.append(round(1 / wrapper.scale_loss(one).item()))
        wrapper._inner_count += 1
    assert factors == [3, 3, 3, 3, 3, 3, 2, 2]
    assert OptimWrapper(optimizer).scale_loss(one) is one  # no accumulation: untouched


def test_scale_loss_rejects_inconsistent_counts():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=3)
    wrapper.initialize_count_status(model, 0, 6)
    wrapper._inner_count = 6  # past the end: the remainder window is empty
    with pytest.raises(AssertionError, match="loss factor"):
        wrapper.scale_loss(torch.tensor(1.0))


@pytest.mark.parametrize("acc", [1, 2, 3])
def test_optim_context_enters_no_sync_on_non_update_iterations(acc):
    model, optimizer = _make()
    ddp = FakeDDP(model)
    wrapper = OptimWrapper(optimizer, accumulative_counts=acc)
    in_no_sync = []
    for x in _data(6):
        with wrapper.optim_context(ddp):
            in_no_sync.append(ddp.in_no_sync)
            loss = _loss(ddp, x)
        wrapper.update_params(loss)
    assert in_no_sync == [(i + 1) % acc != 0 for i in range(6)]
    assert ddp.no_sync_entries == sum(in_no_sync)


def test_optim_context_without_no_sync_is_a_plain_context():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer, accumulative_counts=2)
    with wrapper.optim_context(model):
        assert not wrapper.should_sync()
        entered = True
    assert entered


def test_clip_by_norm_records_norm_and_skips_params_without_grad():
    torch.manual_seed(0)
    model = nn.ModuleDict({"used": nn.Linear(3, 2), "unused": nn.Linear(3, 2)})
    model["used"].bias.requires_grad_(False)
    ref = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ref_optimizer = torch.optim.SGD(ref.parameters(), lr=0.5)
    wrapper = OptimWrapper(optimizer, clip_grad={"max_norm": 0.1})
    assert wrapper.last_grad_norm is None
    x = torch.randn(8, 3)

    wrapper.update_params(model["used"](x).pow(2).sum())
    ref["used"](x).pow(2).sum().backward()
    norm = torch.nn.utils.clip_grad_norm_([ref["used"].weight], max_norm=0.1)
    ref_optimizer.step()

    assert wrapper.last_grad_norm == pytest.approx(float(norm))
    assert wrapper.last_grad_norm > 0.1
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)


def test_clip_by_value():
    model, optimizer = _make()
    ref_model, ref_optimizer = _make()
    wrapper = OptimWrapper(optimizer, clip_grad={"type": "value", "clip_value": 0.01})
    x = _data(1)[0]
    wrapper.backward(_loss(model, x) * 100)
    wrapper.step()
    _loss(ref_model, x).mul(100).backward()
    torch.nn.utils.clip_grad_value_(ref_model.parameters(), 0.01)
    assert all(p.grad.abs().max() <= 0.01 for p in model.parameters())
    ref_optimizer.step()
    assert_same(snapshot(model), snapshot(ref_model))
    assert wrapper.last_grad_norm is None


def test_clip_grad_validation():
    _, optimizer = _make()
    with pytest.raises(AssertionError):
        OptimWrapper(optimizer, clip_grad={})
    with pytest.raises(AssertionError):
        OptimWrapper(optimizer, clip_grad={"type": "value"})
    with pytest.raises(ValueError, match="norm"):
        OptimWrapper(optimizer, clip_grad={"type": "l2", "max_norm": 1})
    with pytest.raises(AssertionError):
        OptimWrapper(optimizer, accumulative_counts=0)
    cfg = {"type": "value", "clip_value": 1.0}
    OptimWrapper(optimizer, clip_grad=cfg)
    assert cfg == {"type": "value", "clip_value": 1.0}


def test_step_and_zero_kwargs_are_forwarded():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer)
    calls = []

    def closure():
        calls.append(1)
        return torch.tensor(0.0)

    wrapper.update_params(
        _loss(model, torch.ones(2, 3)),
        step_kwargs={"closure": closure},
        zero_kwargs={"set_to_none": False},
    )
    assert calls == [1]
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    wrapper.update_params(_loss(model, torch.ones(2, 3)))
    assert all(p.grad is None for p in model.parameters())


def test_get_lr_and_momentum_single_group():
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer)
    assert wrapper.get_lr() == {"lr": [0.1]}
    assert wrapper.get_momentum() == {"momentum": [0.9]}
    assert wrapper.param_groups is optimizer.param_groups
    assert wrapper.defaults is optimizer.defaults
    assert "base_param_settings" not in wrapper.state_dict()


def test_base_lr_pseudo_group_with_several_groups():
    model, _ = _make()
    optimizer = torch.optim.Adam(
        [{"params": model.fc1.parameters()}, {"params": model.fc2.parameters(), "lr": 0.5}],
        lr=0.01,
        betas=(0.8, 0.99),
    )
    wrapper = OptimWrapper(optimizer)
    assert list(wrapper.get_lr()) == ["base_lr", "lr"]
    assert wrapper.get_lr() == {"base_lr": [0.01], "lr": [0.01, 0.5]}
    assert wrapper.get_momentum() == {"momentum": [0.8, 0.8]}

    groups = wrapper.param_groups
    assert len(groups) == 3 and groups[:2] == optimizer.param_groups
    pseudo = groups[2]
    assert pseudo["lr"] == 0.01 and pseudo["betas"] == (0.8, 0.99)
    assert torch.equal(pseudo["params"], torch.tensor([0.0]))

    # A scheduler writes every group, the pseudo one included.
    for group in wrapper.param_groups:
        group["lr"] *= 0.1
    assert wrapper.get_lr()["base_lr"] == [pytest.approx(0.001)]

    state = wrapper.state_dict()
    assert state["base_param_settings"]["lr"] == pytest.approx(0.001)
    model2, _ = _make()
    optimizer2 = torch.optim.Adam(
        [{"params": model2.fc1.parameters()}, {"params": model2.fc2.parameters(), "lr": 0.5}],
        lr=0.01,
    )
    wrapper2 = OptimWrapper(optimizer2)
    keys_before = set(state)
    wrapper2.load_state_dict(state)
    assert set(state) == keys_before  # the argument is not consumed
    assert wrapper2.get_lr() == wrapper.get_lr()


def test_momentum_falls_back_to_zero():
    model, _ = _make()
    wrapper = OptimWrapper(torch.optim.Adadelta(model.parameters()))
    assert wrapper.get_momentum() == {"momentum": [0]}


def test_state_dict_round_trip_restores_optimizer_state():
    xs = _data(3)
    model, optimizer = _make()
    wrapper = OptimWrapper(optimizer)
    for x in xs:
        wrapper.update_params(_loss(model, x))
    state = copy.deepcopy(wrapper.state_dict())

    model2, optimizer2 = _make()
    model2.load_state_dict(model.state_dict())
    wrapper2 = OptimWrapper(optimizer2)
    wrapper2.load_state_dict(state)
    x = _data(4)[3]
    wrapper.update_params(_loss(model, x))
    wrapper2.update_params(_loss(model2, x))
    assert_same(snapshot(model), snapshot(model2))


def test_repr_mentions_type_and_accumulation():
    _, optimizer = _make()
    text = repr(OptimWrapper(optimizer, accumulative_counts=4))
    assert text.startswith("Type: OptimWrapper\n_accumulative_counts: 4\n")
    assert "SGD" in text
