"""OptimWrapperDict: dict-like access, aggregated lr/momentum/state, unsupported updates."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from migrate_optim.runtime import OptimWrapper, OptimWrapperDict, OptimWrapperMissingError


def _wrappers():
    torch.manual_seed(0)
    gen, disc = nn.Linear(2, 2), nn.Linear(2, 1)
    gen_opt = torch.optim.Adam(
        [{"params": [gen.weight]}, {"params": [gen.bias], "lr": 0.5}], lr=0.01, betas=(0.5, 0.9)
    )
    w_gen = OptimWrapper(gen_opt)
    w_disc = OptimWrapper(torch.optim.SGD(disc.parameters(), lr=0.1, momentum=0.8))
    return gen, disc, w_gen, w_disc


def test_dict_like_access():
    _, _, w_gen, w_disc = _wrappers()
    wrappers = OptimWrapperDict(gen=w_gen, disc=w_disc)
    assert isinstance(wrappers, OptimWrapper)
    assert wrappers["gen"] is w_gen
    assert list(wrappers) == ["gen", "disc"]
    assert list(wrappers.keys()) == ["gen", "disc"]
    assert list(wrappers.values()) == [w_gen, w_disc]
    assert list(wrappers.items()) == [("gen", w_gen), ("disc", w_disc)]
    assert len(wrappers) == 2
    assert "disc" in wrappers and "nope" not in wrappers
    with pytest.raises(KeyError):
        wrappers["nope"]
    with pytest.raises(AssertionError):
        wrappers["nope"]
    assert "name: gen\nType: OptimWrapper" in repr(wrappers)


def test_only_optim_wrappers_accepted():
    _, _, w_gen, _ = _wrappers()
    with pytest.raises(AssertionError):
        OptimWrapperDict(gen=w_gen, disc=torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1))


def test_lr_and_momentum_are_prefixed():
    _, _, w_gen, w_disc = _wrappers()
    wrappers = OptimWrapperDict(gen=w_gen, disc=w_disc)
    assert wrappers.get_lr() == {
        "gen.base_lr": [0.01],
        "gen.lr": [0.01, 0.5],
        "disc.lr": [0.1],
    }
    assert wrappers.get_momentum() == {"gen.momentum": [0.5, 0.5], "disc.momentum": [0.8]}
    groups = wrappers.param_groups
    assert list(groups) == ["gen", "disc"]
    assert len(groups["gen"]) == 3 and groups["disc"] is w_disc.optimizer.param_groups


def test_update_methods_are_not_implemented():
    gen, _, w_gen, w_disc = _wrappers()
    wrappers = OptimWrapperDict(gen=w_gen, disc=w_disc)
    loss = gen(torch.ones(1, 2)).sum()
    with pytest.raises(NotImplementedError):
        wrappers.update_params(loss)
    with pytest.raises(NotImplementedError):
        wrappers.backward(loss)
    with pytest.raises(NotImplementedError):
        wrappers.step()
    with pytest.raises(NotImplementedError):
        with wrappers.optim_context(gen):
            pass


def test_zero_grad_reaches_every_wrapper_and_count_status_is_a_no_op():
    gen, disc, w_gen, w_disc = _wrappers()
    wrappers = OptimWrapperDict(gen=w_gen, disc=w_disc)
    w_gen.backward(gen(torch.ones(1, 2)).sum())
    w_disc.backward(disc(torch.ones(1, 2)).sum())
    wrappers.initialize_count_status(gen, 7, 100)
    assert (w_gen.inner_count, w_disc.inner_count) == (1, 1)
    assert w_gen._max_counts == -1
    wrappers.zero_grad()
    assert all(p.grad is None for p in [*gen.parameters(), *disc.parameters()])


def test_state_dict_round_trip():
    gen, disc, w_gen, w_disc = _wrappers()
    wrappers = OptimWrapperDict(gen=w_gen, disc=w_disc)
    for _ in range(2):
        w_gen.update_params(gen(torch.ones(1, 2)).pow(2).sum())
        w_disc.update_params(disc(torch.ones(1, 2)).pow(2).sum())
    state = copy.deepcopy(wrappers.state_dict())
    assert list(state) == ["gen", "disc"]
    assert "base_param_settings" in state["gen"] and "base_param_settings" not in state["disc"]
    torch.testing.assert_close(state["disc"], w_disc.state_dict())

    _, _, n_gen, n_disc = _wrappers()
    fresh = OptimWrapperDict(gen=n_gen, disc=n_disc)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["disc"]["state"].keys() == state["disc"]["state"].keys()
    torch.testing.assert_close(
        n_gen.optimizer.state_dict()["state"][0]["exp_avg"], state["gen"]["state"][0]["exp_avg"]
    )

    partial = OptimWrapperDict(gen=_wrappers()[2])
    with pytest.raises(OptimWrapperMissingError):
        partial.load_state_dict(state)
