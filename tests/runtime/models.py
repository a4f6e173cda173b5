"""Models and helpers shared by the runtime tests."""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import torch
import torch.nn as nn


class MLP(nn.Module):
    """A small model whose training steps are cheap and deterministic."""

    def __init__(self, with_bn: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 5)
        self.bn = nn.BatchNorm1d(5) if with_bn else nn.Identity()
        self.fc2 = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.bn(self.fc1(x))))


class DeformConv2d(nn.Module):
    """Stand-in for mmcv's DeformConv2d: recognised by its class name, has a conv_offset child."""

    def __init__(self, cin: int = 4, cout: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.conv_offset = nn.Conv2d(cin, 18, 3, padding=1)


class ModulatedDeformConv2d(DeformConv2d):
    """Stand-in for mmcv's ModulatedDeformConv2d."""


class DeformConv2dPack(DeformConv2d):
    """Stand-in for mmcv's DeformConv2dPack (a DeformConv2d subclass)."""


class KitchenSink(nn.Module):
    """Every parameter kind the paramwise rules distinguish.

    Conv with and without bias, depthwise conv, grouped non-2d conv, batch/group/layer/instance
    norm, linear layers, top-level 1-D and 2-D parameters, a frozen parameter and a parameter
    shared between two modules (``tied.weight is head.weight``).
    """

    def __init__(self, with_dcn: bool = False) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(3, 8, 3),
                bn=nn.BatchNorm2d(8),
                dwconv=nn.Conv2d(8, 8, 3, groups=8),
                gn=nn.GroupNorm(2, 8),
                conv_nobias=nn.Conv2d(8, 4, 1, bias=False),
                conv1d_dw=nn.Conv1d(4, 4, 1, groups=4),
            )
        )
        self.neck = nn.ModuleDict(
            {
                "ln": nn.LayerNorm(4),
                "inorm": nn.InstanceNorm2d(4, affine=True),
                "linear": nn.Linear(4, 4),
            }
        )
        if with_dcn:
            self.dcn = DeformConv2d(4, 4)
            self.mdcn = ModulatedDeformConv2d(4, 4)
            self.dcn_pack = DeformConv2dPack(4, 4)
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(2))
        self.pos_embed = nn.Parameter(torch.zeros(1, 4))
        self.frozen = nn.Linear(2, 2)
        self.frozen.weight.requires_grad_(False)
        self.tied = nn.Linear(4, 2, bias=False)
        self.tied.weight = self.head.weight


def param_names(model: nn.Module) -> dict[int, str]:
    """id(param) → the first dotted name of that parameter in ``model``."""
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), name)
    return names


def describe_groups(groups: list[dict], model: nn.Module) -> list[dict]:
    """Param groups with their params replaced by names, for comparisons."""
    names = param_names(model)
    described = []
    for group in groups:
        entry = {k: v for k, v in group.items() if k != "params"}
        entry["params"] = [names.get(id(p), "<not in model>") for p in group["params"]]
        described.append(entry)
    return described


class FakeDDP(nn.Module):
    """A DDP look-alike: wraps ``module`` and records when ``no_sync`` is entered."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.no_sync_entries = 0
        self.in_no_sync = False

    @contextlib.contextmanager
    def no_sync(self):
        self.no_sync_entries += 1
        self.in_no_sync = True
        try:
            yield
        finally:
            self.in_no_sync = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    """Detached copies of every parameter of ``model``."""
    return [p.detach().clone() for p in model.parameters()]


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    """Assert two parameter snapshots are bitwise equal."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y), (x, y)
