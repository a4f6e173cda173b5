"""Our own implementation of the MMEngine 0.10.7 optimizer-wrapper API (needs torch).

Same public names and behaviour as ``mmengine.optim`` / ``mmengine.registry`` /
``mmengine.logging.print_log`` for everything the optimizer side of a 1.x config uses, plus
MMagic's multi-optimizer constructors, and MMEngine's parameter schedulers
(:mod:`.schedulers`, ``mmengine.optim.scheduler``); where MMEngine code reads
``from mmengine.optim import X``, ``from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS`` or
``from mmengine.logging import print_log``, read ``from migrate_optim.runtime import X``.

Differences from MMEngine (all supersets or fixes of crashes): ``AmpOptimWrapper`` also runs on
CPU (bfloat16 autocast, ``torch.amp.GradScaler('cpu')``); the clipped gradient norm is kept in
``OptimWrapper.last_grad_norm`` instead of a ``MessageHub``; ``print_log`` uses the standard
``logging`` module; ``load_state_dict`` does not modify its argument; ``OptimWrapperDict`` is
iterable.
"""

from migrate_optim.runtime.amp import AmpOptimWrapper
from migrate_optim.runtime.base import BaseOptimWrapper
from migrate_optim.runtime.builder import build_optim_wrapper
from migrate_optim.runtime.constructors import DefaultOptimWrapperConstructor
from migrate_optim.runtime.gan_constructors import (
    MultiOptimWrapperConstructor,
    PGGANOptimWrapperConstructor,
    SinGANOptimWrapperConstructor,
    get_params_by_names,
)
from migrate_optim.runtime.layer_decay import (
    LayerDecayOptimizerConstructor,
    LearningRateDecayOptimizerConstructor,
)
from migrate_optim.runtime.log import CURRENT_LOGGER_NAME, print_log
from migrate_optim.runtime.optim_wrapper import OptimWrapper, has_batch_norm
from migrate_optim.runtime.registry import (
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIM_WRAPPERS,
    OPTIMIZERS,
    TORCH_OPTIMIZERS,
    Registry,
    register_torch_optimizers,
)
from migrate_optim.runtime.schedulers import (
    INF,
    PARAM_SCHEDULERS,
    ConstantLR,
    ConstantMomentum,
    CosineAnnealingLR,
    CosineAnnealingMomentum,
    CosineRestartLR,
    CosineRestartMomentum,
    ExponentialLR,
    ExponentialMomentum,
    LinearLR,
    LinearLrInterval,
    LinearMomentum,
    MultiStepLR,
    MultiStepMomentum,
    OneCycleLR,
    PolyLR,
    PolyMomentum,
    StepLR,
    StepMomentum,
    build_param_scheduler,
)
from migrate_optim.runtime.wrapper_dict import OptimWrapperDict, OptimWrapperMissingError

__all__ = [
    "INF",
    "PARAM_SCHEDULERS",
    "ConstantLR",
    "ConstantMomentum",
    "CosineAnnealingLR",
    "CosineAnnealingMomentum",
    "CosineRestartLR",
    "CosineRestartMomentum",
    "ExponentialLR",
    "ExponentialMomentum",
    "LinearLR",
    "LinearLrInterval",
    "LinearMomentum",
    "MultiStepLR",
    "MultiStepMomentum",
    "OneCycleLR",
    "PolyLR",
    "PolyMomentum",
    "StepLR",
    "StepMomentum",
    "build_param_scheduler",
    "CURRENT_LOGGER_NAME",
    "OPTIMIZERS",
    "OPTIM_WRAPPERS",
    "OPTIM_WRAPPER_CONSTRUCTORS",
    "TORCH_OPTIMIZERS",
    "AmpOptimWrapper",
    "BaseOptimWrapper",
    "DefaultOptimWrapperConstructor",
    "LayerDecayOptimizerConstructor",
    "LearningRateDecayOptimizerConstructor",
    "MultiOptimWrapperConstructor",
    "OptimWrapper",
    "OptimWrapperDict",
    "OptimWrapperMissingError",
    "PGGANOptimWrapperConstructor",
    "Registry",
    "SinGANOptimWrapperConstructor",
    "build_optim_wrapper",
    "get_params_by_names",
    "has_batch_norm",
    "print_log",
    "register_torch_optimizers",
]
