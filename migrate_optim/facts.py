"""Facts about OpenMMLab's optimizer configs that both ``convert`` and ``verify`` rely on.

Neither side owns these: the converter reads them statically (libcst values), the verifier on
loaded configs (plain dicts), and each must agree with the other. The module imports nothing
from the package and never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The 0.x optimizer keys the converter is responsible for: each is converted or carries a TODO.
OPTIMIZER_KEYS = ("optimizer", "optimizer_config", "fp16")
#: The 0.x schedule and loop keys (docs/schedules.md), likewise.
SCHEDULE_KEYS = ("lr_config", "momentum_config", "runner", "total_epochs", "total_iters")

#: MMEngine's constructor of one wrapper per top-level key of ``optim_wrapper`` (MMagic GANs).
MULTI_CONSTRUCTOR = "MultiOptimWrapperConstructor"

#: The default optimizer constructors: mmcv 1.x's and MMEngine's. MMEngine's default reads
#: ``paramwise_cfg`` the way mmcv's did (apart from the corners the paramwise rule handles),
#: so naming either explicitly changes nothing.
DEFAULT_CONSTRUCTORS = frozenset({"DefaultOptimizerConstructor", "DefaultOptimWrapperConstructor"})

#: Arguments of a single ``optimizer`` whose values are dicts: a dict holding one is a single
#: optimizer even when every value is a dict (mmselfsup's ``paramwise_options`` included).
DICT_ARGUMENTS = frozenset({"paramwise_cfg", "paramwise_options"})


def is_default_constructor(name: str | None) -> bool:
    """Whether ``name`` (None: not given) builds the optimizer the default way."""
    return name is None or name in DEFAULT_CONSTRUCTORS


def is_per_module(keys: Iterable[str], values_are_dicts: bool) -> bool:
    """Whether an ``optimizer`` dict means one optimizer per model module
    (docs/gan.md#per-module-optimizers).

    mmgen's and mmedit's ``build_optimizers`` build one optimizer per key when every value is a
    dict; ``keys`` are the dict's keys and ``values_are_dicts`` says whether every value is one.
    An empty dict, or one holding a dict-valued argument of a single optimizer, is not.
    """
    names = set(keys)
    return bool(names) and values_are_dicts and not (DICT_ARGUMENTS & names)
