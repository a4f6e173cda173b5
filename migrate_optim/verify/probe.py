"""A tiny synthetic model for ``verify`` whose parameter names exercise both configs' optimizers.

``verify OLD NEW`` without ``--model`` trains this probe under both configs. It is built from
the two loaded configs so that every ``paramwise_cfg`` rule they state has parameters to act
on:

* every ``custom_keys`` entry (found in any ``paramwise_cfg``, per-module ones included) is
  contained in some parameter name as the constructors see it (``f'{prefix}.{name}'``, where a
  parameter directly on the constructor's module is ``.name``), and, when the keys allow it,
  is the longest matching key for at least one of them;
* for per-module (GAN) optimizers, one child module per name (``generator``,
  ``discriminator``, ``generators``, ``denoising``, any key of a per-module optimizer dict or
  multi-wrapper ``optim_wrapper``), each a complete probe block;
* every block has batch, group, instance and layer norms, a depthwise convolution, biases, a
  1-D non-bias parameter (``gamma``), a frozen parameter (``frozen``), and a parameter reachable
  under two names (``shared`` and ``shared_alias``). When no ``paramwise_cfg`` would put a
  cross-module shared parameter into two groups (all of them set ``bypass_duplicate``, or
  there is none), two modules also share one weight (``tie_a.weight`` is ``tie_b.weight``);
* configs with a layer-wise lr decay constructor (``paramwise_cfg.num_layers``) also get
  ViT/ConvNeXt-style backbone names (``backbone.cls_token``, ``backbone.layers.N``,
  ``backbone.stages.N.M``, ``backbone.downsample_layers.N``, ...), and the ``backbone`` module's
  class is named after the config's ``model.backbone.type`` (those constructors read it).

Everything is deterministic: parameter values depend only on the seed and the parameter's name
(adding a key does not change the others), and ``make_batch(step)`` only on the seed and step.
Construction does not touch torch's global random state. Widths are 4, so a step is fast on CPU.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ProbeBlock",
    "ProbeModel",
    "ProbeSpec",
    "collect_probe_spec",
    "constructor_names",
    "synthesize_probe",
]

WIDTH = 4
SPATIAL = 4
# Container for keys that start with '.', which need a module prefix before their first part.
_DOT_CONTAINER = "probe"
_FEATURE_ROLES = (
    "conv",
    "bn",
    "dwconv",
    "gn",
    "inorm",
    "ln",
    "fc",
    "gamma",
    "frozen",
    "shared",
    "shared_alias",
    "tie_a",
    "tie_b",
)
_OPTIMIZER_KEYS_0X = ("optimizer", "optimizers")


# ---------------------------------------------------------------------------------------------
# what the configs ask for


@dataclass(frozen=True)
class ProbeSpec:
    """What a probe must contain, as collected from the configs by :func:`collect_probe_spec`.

    ``custom_keys``: every custom key, sorted. ``module_names``: GAN children in first-seen
    order (empty: one plain model). ``param_paths``/``module_paths``: extra exact parameter and
    module names (layer-wise decay constructors). ``tie_across_modules``: whether two modules
    may share a weight. ``uncoverable``: keys no parameter name can contain (``'a..b'``).
    """

    custom_keys: tuple[str, ...] = ()
    module_names: tuple[str, ...] = ()
    param_paths: tuple[str, ...] = ()
    module_paths: tuple[str, ...] = ()
    tie_across_modules: bool = True
    uncoverable: tuple[str, ...] = ()
    #: ``model.backbone.type`` of a layer-decay config: layer-decay constructors choose their
    #: layer-id rule from the class name of ``model.backbone`` (ConvNeXt, BEiT, MAE)
    backbone_type: str | None = None


def _paramwise_cfgs(node: Any) -> Iterator[Mapping]:
    """Every mapping stored under a ``paramwise_cfg`` key anywhere in a config."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "paramwise_cfg" and isinstance(value, Mapping):
                yield value
            yield from _paramwise_cfgs(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _paramwise_cfgs(item)


def _module_names(config: Mapping) -> list[str]:
    """Names of the per-module optimizers of a 0.x or 1.x config (empty for a single one)."""
    names: list[str] = []
    for key in _OPTIMIZER_KEYS_0X:
        optimizer = config.get(key)
        if isinstance(optimizer, Mapping) and "type" not in optimizer:
            names += [name for name, sub in optimizer.items() if isinstance(sub, Mapping)]
    wrapper = config.get("optim_wrapper")
    if isinstance(wrapper, Mapping) and "optimizer" not in wrapper:
        # Sub-wrappers hold an ``optimizer``; a 0.x-style sub-dict (``type`` only) is still a
        # module name, so that verify can report it. Other dict options (``lr_schedule`` of the
        # PGGAN constructor, ``clip_grad``, ``paramwise_cfg``) hold neither.
        names += [
            name
            for name, sub in wrapper.items()
            if isinstance(sub, Mapping) and ("optimizer" in sub or "type" in sub)
        ]
    return names


def _layer_decay_paths(num_layers: int) -> tuple[list[str], list[str]]:
    """ViT/BEiT and ConvNeXt parameter and module names that layer-decay constructors parse."""
    last = max(int(num_layers), 1) - 1
    params = ["backbone.cls_token", "backbone.pos_embed"]
    modules = ["backbone.patch_embed", "backbone.layers.0", f"backbone.layers.{last}"]
    modules += [f"backbone.downsample_layers.{i}" for i in range(4)]
    modules += [f"backbone.stages.{i}.0" for i in range(4)] + ["backbone.stages.2.3"]
    modules += ["decode_head"]
    return params, modules


def collect_probe_spec(*configs: Mapping) -> ProbeSpec:
    """Collect custom keys, GAN module names and sharing constraints from loaded configs."""
    keys: set[str] = set()
    names: list[str] = []
    param_paths: list[str] = []
    module_paths: list[str] = []
    tie = True
    backbone_type = None
    for config in configs:
        if not isinstance(config, Mapping):
            raise TypeError(f"a config must be a mapping, got {type(config).__name__}")
        for paramwise in _paramwise_cfgs(config):
            custom = paramwise.get("custom_keys") or {}
            if not isinstance(custom, Mapping):
                raise TypeError(f"custom_keys must be a dict, got {type(custom).__name__}")
            keys.update(str(key) for key in custom)
            if paramwise and not paramwise.get("bypass_duplicate", False):
                tie = False
            if isinstance(paramwise.get("num_layers"), int):
                extra_params, extra_modules = _layer_decay_paths(paramwise["num_layers"])
                param_paths += [p for p in extra_params if p not in param_paths]
                module_paths += [m for m in extra_modules if m not in module_paths]
                backbone_type = backbone_type or _backbone_type(config)
        for name in _module_names(config):
            if name not in names:
                names.append(name)
    # f'{prefix}.{name}' never holds two dots in a row; anything else can be built.
    uncoverable = tuple(sorted(key for key in keys if ".." in key))
    return ProbeSpec(
        custom_keys=tuple(sorted(keys)),
        module_names=tuple(names),
        param_paths=tuple(param_paths),
        module_paths=tuple(module_paths),
        tie_across_modules=tie,
        uncoverable=uncoverable,
        backbone_type=backbone_type,
    )


def _backbone_type(config: Mapping) -> str | None:
    model = config.get("model")
    backbone = model.get("backbone") if isinstance(model, Mapping) else None
    kind = backbone.get("type") if isinstance(backbone, Mapping) else None
    return kind.rpartition(".")[2] if isinstance(kind, str) and kind else None


# ---------------------------------------------------------------------------------------------
# the model


def _mix(seed: int, label: str) -> int:
    """A 63-bit seed derived from ``seed`` and a label, stable across runs and platforms."""
    digest = zlib.crc32(f"{seed}|{label}".encode()) ^ (zlib.adler32(label.encode()) << 32)
    return digest & 0x7FFF_FFFF_FFFF_FFFF


def constructor_names(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(f'{prefix}.{name}', param)`` for every parameter, as optimizer constructors see them.

    mmcv's and MMEngine's constructors walk modules recursively with ``prefix`` ('' for the
    module they are given), so a parameter directly on it is ``.name``; a parameter reachable
    from two modules is listed under each.
    """
    out: list[tuple[str, nn.Parameter]] = []

    def walk(mod: nn.Module, prefix: str) -> None:
        for name, param in mod.named_parameters(recurse=False):
            out.append((f"{prefix}.{name}", param))
        for child_name, child in mod.named_children():
            walk(child, f"{prefix}.{child_name}" if prefix else child_name)

    walk(module, "")
    return out


class _KeyNode(nn.Module):
    """A module on the path of a covered name; endpoints own a ``weight`` and a ``bias``."""

    def __init__(self) -> None:
        super().__init__()
        self.endpoint = False

    def own_params(self, width: int) -> None:
        if not self.endpoint:
            self.endpoint = True
            # Straight into ``_parameters``: a child module may already use the name 'weight'.
            self._parameters["weight"] = nn.Parameter(torch.empty(width, width))
            self._parameters["bias"] = nn.Parameter(torch.empty(width))


class ProbeBlock(nn.Module):
    """One probe unit: the feature layers plus a module tree covering the spec's names.

    ``loss(batch)`` runs every trainable parameter once on a ``(B, 4, 4, 4)`` batch and returns
    a scalar. Feature layers have fixed names (``conv``, ``bn``, ``dwconv``, ``gn``, ``inorm``,
    ``ln``, ``fc``, ``gamma``, ``frozen``, ``shared``/``shared_alias``, ``tie_a``/``tie_b``);
    one whose name is also the first part of a covered name gets a ``_f`` suffix.
    """

    def __init__(self, spec: ProbeSpec, width: int = WIDTH, *, build: bool = True) -> None:
        super().__init__()
        self.width = width
        self._feature: dict[str, str] = {}
        self._chain: list[str] = []  # dotted module names of key endpoints, in forward order
        self._param_chain: list[str] = []  # exact parameter names added for the spec
        self.tied = False
        if build:
            self._build(spec)

    # -- construction ---------------------------------------------------------------------

    def _build(self, spec: ProbeSpec) -> None:
        width = self.width
        covered_heads = {
            path.split(".")[0]
            for path in (*self._key_paths(spec), *spec.module_paths, *spec.param_paths)
        }
        for role in _FEATURE_ROLES:
            name = role
            while name in covered_heads:
                name += "_f"
            self._feature[role] = name

        self._add_module(self._feature["conv"], nn.Conv2d(width, width, 3, padding=1))
        self._add_module(self._feature["bn"], nn.BatchNorm2d(width))
        self._add_module(
            self._feature["dwconv"], nn.Conv2d(width, width, 3, padding=1, groups=width)
        )
        self._add_module(self._feature["gn"], nn.GroupNorm(2, width))
        self._add_module(self._feature["inorm"], nn.InstanceNorm2d(width, affine=True))
        self._add_module(self._feature["ln"], nn.LayerNorm(width))
        self._add_module(self._feature["fc"], nn.Linear(width, width))
        self.register_parameter(self._feature["gamma"], nn.Parameter(torch.empty(width)))
        self.register_parameter(
            self._feature["frozen"], nn.Parameter(torch.empty(width), requires_grad=False)
        )
        shared = nn.Parameter(torch.empty(width, width))
        self.register_parameter(self._feature["shared"], shared)
        self.register_parameter(self._feature["shared_alias"], shared)
        self.tied = spec.tie_across_modules
        if self.tied:
            tie_a = nn.Linear(width, width, bias=False)
            tie_b = nn.Linear(width, width, bias=False)
            tie_b.weight = tie_a.weight
            self._add_module(self._feature["tie_a"], tie_a)
            self._add_module(self._feature["tie_b"], tie_b)

        for path in (*self._key_paths(spec), *spec.module_paths):
            node = self._node_at(path.split("."))
            node.own_params(width)
            if path not in self._chain:
                self._chain.append(path)
        backbone = self._modules.get("backbone")
        if spec.backbone_type and isinstance(backbone, _KeyNode):
            # a subclass named after the config's backbone, only for its class name
            backbone.__class__ = type(spec.backbone_type, (_KeyNode,), {})
        for path in spec.param_paths:
            *parents, leaf = path.split(".")
            owner: nn.Module = self._node_at(parents) if parents else self
            if leaf not in owner._parameters:
                owner._parameters[leaf] = nn.Parameter(torch.empty(1, width))
                self._param_chain.append(path)

    @staticmethod
    def _key_paths(spec: ProbeSpec) -> list[str]:
        """A module path per coverable custom key whose parameters' names contain the key."""
        paths = []
        for key in spec.custom_keys:
            if key in ("", ".") or key in spec.uncoverable:
                continue  # '' and '.' match every name already
            parts = key.strip(".").split(".")
            if key.startswith("."):
                # f'{prefix}.{name}' has a '.' before a part only when a module precedes it.
                parts = [_DOT_CONTAINER, *parts]
            paths.append(".".join(parts))
        return paths

    def _add_module(self, name: str, module: nn.Module) -> None:
        # Covered names may collide with nn.Module attributes ('type', 'weight', ...): bypass
        # add_module's attribute check; constructors only walk ``_modules``.
        self._modules[name] = module

    def _node_at(self, parts: list[str]) -> _KeyNode | ProbeBlock:
        node: nn.Module = self
        for part in parts:
            child = node._modules.get(part)
            if child is None:
                child = _KeyNode()
                node._modules[part] = child
            elif not isinstance(child, _KeyNode):
                raise ValueError(f"covered name part {part!r} collides with a feature layer")
            node = child
        return node  # type: ignore[return-value]

    # -- computation ----------------------------------------------------------------------

    def _get(self, dotted: str) -> nn.Module:
        # Walks ``_modules``, not attributes: covered names may shadow attribute names.
        module: nn.Module = self
        for part in dotted.split(".") if dotted else ():
            module = module._modules[part]  # type: ignore[assignment]
        return module

    def _param(self, dotted: str) -> torch.Tensor:
        *parents, leaf = dotted.split(".")
        owner = self._get(".".join(parents)) if parents else self
        return owner._parameters[leaf]  # type: ignore[return-value]

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        """Scalar loss of this block on ``batch`` (shape ``(B, width, 4, 4)``)."""
        f = self._feature
        h = self._modules[f["conv"]](batch)
        h = self._modules[f["bn"]](h)
        h = self._modules[f["dwconv"]](h)
        h = self._modules[f["gn"]](h)
        h = torch.tanh(self._modules[f["inorm"]](h))
        v = self._modules[f["ln"]](h.mean(dim=(2, 3)))
        v = self._modules[f["fc"]](v)
        v = v * self._parameters[f["gamma"]] + self._parameters[f["frozen"]]
        v = v + torch.tanh(v @ self._parameters[f["shared"]])
        if self.tied:
            v = v + torch.tanh(self._modules[f["tie_b"]](self._modules[f["tie_a"]](v)))
        for path in self._chain:
            node = self._get(path)
            v = v + torch.tanh(F.linear(v, node.weight, node.bias))
        for path in self._param_chain:
            v = v + torch.tanh(v * self._param(path))
        target = batch[:, :, 0, 0]
        return F.mse_loss(v, target.to(v.dtype))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`loss` (so DDP and autocast wrappers can call the module)."""
        return self.loss(batch)


class ProbeModel(ProbeBlock):
    """The probe: one :class:`ProbeBlock` itself, or one child block per GAN module name.

    ``loss(batch)`` is the whole model's scalar loss (the sum over GAN children);
    ``module_loss(name, batch)`` is one child's. ``make_batch(step)`` gives the deterministic
    input of a step on the model's device. ``reset_parameters()`` restores the seeded values.
    """

    def __init__(self, spec: ProbeSpec, seed: int = 0, width: int = WIDTH) -> None:
        super().__init__(spec, width, build=False)
        self.spec = spec
        self.seed = int(seed)
        self.module_names: tuple[str, ...] = spec.module_names
        with torch.random.fork_rng(devices=[]):
            if self.module_names:
                for name in self.module_names:
                    if not name or "." in name or hasattr(self, name):
                        raise ValueError(f"cannot use {name!r} as a probe child module name")
                    self.add_module(name, ProbeBlock(spec, width))
            else:
                self._build(spec)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Give every parameter its seeded value (a function of seed and name only)."""
        with torch.no_grad():
            for name, param in self.named_parameters():
                gen = torch.Generator().manual_seed(_mix(self.seed, name))
                owner_name, _, leaf = name.rpartition(".")
                owner = self._get(owner_name)
                values = torch.rand(param.shape, generator=gen, dtype=torch.float32) * 2 - 1
                if isinstance(owner, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                    values = 1 + 0.1 * values if leaf == "weight" else 0.1 * values
                elif leaf == "bias" or param.dim() == 1:
                    values = 0.1 * values
                else:
                    fan_in = param.shape[1] * math.prod(param.shape[2:]) if param.dim() > 1 else 1
                    values = values / math.sqrt(max(fan_in, 1))
                param.copy_(values.to(param.device, param.dtype))
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.reset_running_stats()

    def make_batch(self, step: int, batch_size: int = 2) -> torch.Tensor:
        """The input of training step ``step``: ``(batch_size, width, 4, 4)``, values in [-1, 1)."""
        gen = torch.Generator().manual_seed(_mix(self.seed, f"batch:{int(step)}"))
        shape = (batch_size, self.width, SPATIAL, SPATIAL)
        batch = torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1
        param = next(self.parameters(), None)
        return batch if param is None else batch.to(param.device)

    def batches(self, steps: int, batch_size: int = 2) -> Iterable[torch.Tensor]:
        """The inputs of steps ``0 .. steps-1``."""
        return (self.make_batch(step, batch_size) for step in range(steps))

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        """Scalar loss of the whole model (sum of the GAN children's losses, if any)."""
        if not self.module_names:
            return super().loss(batch)
        losses = [self._modules[name].loss(batch) for name in self.module_names]  # type: ignore[union-attr]
        return torch.stack(losses).sum()

    def module_loss(self, name: str, batch: torch.Tensor) -> torch.Tensor:
        """Scalar loss of GAN child ``name`` alone (only its parameters get gradients)."""
        if name not in self.module_names:
            raise KeyError(f"probe has no module {name!r}; it has {list(self.module_names)}")
        return self._modules[name].loss(batch)  # type: ignore[union-attr]

    def forward(self, batch: torch.Tensor, name: str | None = None) -> torch.Tensor:
        """``loss(batch)``, or ``module_loss(name, batch)`` when ``name`` is given."""
        return self.loss(batch) if name is None else self.module_loss(name, batch)


def synthesize_probe(*configs: Mapping, seed: int = 0) -> ProbeModel:
    """Build the probe model for verifying ``configs`` (normally the 0.x and the 1.x one)."""
    return ProbeModel(collect_probe_spec(*configs), seed=seed)
