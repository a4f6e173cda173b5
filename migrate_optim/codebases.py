"""The 0.x OpenMMLab codebases and how each one's train API used an optimizer config.

One table, read by ``convert`` (:mod:`migrate_optim.convert.codebase`: which rewrite an
``optimizer_config``/``fp16`` pair needs) and by ``verify``
(:mod:`migrate_optim.runtime.legacy.trainer_rules`: which optimizer hook the 0.x side trains
with). Torch-free and import-free on purpose: both sides import it.

Every row was read from that package's own 0.x train entry point; ``source`` names the
repository, the commit that was read and the function. The rules a row records:

* ``fp16`` — what the trainer does with a top-level ``fp16`` key (one of :data:`MERGED`,
  :data:`LOSS_SCALE_ONLY`, :data:`FP16_IGNORED`, :data:`SELFSUP`, :data:`HOOKLESS`, or None when
  it depends on the task a wrapper codebase trains, see ``tasks``);
* ``dist_hook`` — the hook a *distributed* run builds from an ``optimizer_config`` without
  ``type``: mmcv's ``OptimizerHook`` or the package's own ``DistOptimizerHook`` (None: the
  trainer has no such branch);
* ``none_guard`` — whether that distributed branch first checks ``optimizer_config is not
  None`` (otherwise ``'type' in None`` is a ``TypeError``);
* ``builds`` — ``build_optimizer`` (one optimizer over the model) or ``build_optimizers`` (a
  dict of dicts gives one optimizer per child module);
* ``runner`` — how the runner is chosen: ``'absent'`` (a missing ``runner`` key gets the
  default runner), ``'none'`` (``cfg.get('runner') is None`` gets it), ``'fixed'`` (the
  trainer always builds the default runner and ignores ``runner``) or ``'required'``;
  ``default_runner`` is ``(runner type, the key giving its length)``;
* ``adversarial_key`` — a config key that, when true, makes the trainer register no optimizer
  hook at all (the model steps its optimizers itself);
* ``unsupported`` — why ``verify`` cannot train this codebase's 0.x side (None: it can).

mmcv 1.7.2 ``BaseRunner.register_optimizer_hook`` is common to all of them: ``None`` registers
nothing, a dict gets ``type='OptimizerHook'`` by default
(docs/optimizer-hooks.md#the-mmcv-hooks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "FP16_IGNORED",
    "HOOKLESS",
    "LOSS_SCALE_ONLY",
    "MERGED",
    "SELFSUP",
    "TRAIN_APIS",
    "TrainAPI",
    "UnsupportedCodebase",
    "canonical",
    "train_api",
]

#: ``Fp16OptimizerHook(**optimizer_config, **fp16, distributed=...)`` whenever ``fp16`` is not
#: None, so ``fp16 = dict()`` enables fp16 with the hook's default ``loss_scale=512.``
MERGED = "merged"
#: ``Fp16OptimizerHook(**optimizer_config, loss_scale=fp16['loss_scale'], ...)`` (mmcls)
LOSS_SCALE_ONLY = "loss_scale_only"
#: the top-level ``fp16`` is never read; ``optimizer_config`` is registered as it is (mmseg)
FP16_IGNORED = "fp16_ignored"
#: ``GradAccumFp16OptimizerHook(**optimizer_config, **fp16, ...)``, mmselfsup's own hooks
SELFSUP = "selfsup"
#: no optimizer hook is registered: the models step their own optimizers (mmgen, mmedit)
HOOKLESS = "hookless"


class UnsupportedCodebase(Exception):  # noqa: N818 - the name says what the user reads
    """A codebase whose 0.x training ``verify`` cannot model (or one no table row knows)."""


@dataclass(frozen=True)
class TrainAPI:
    """How one 0.x codebase's train API used the optimizer keys (see the module docstring)."""

    name: str
    source: str
    fp16: str | None
    dist_hook: str = "OptimizerHook"
    none_guard: bool = False
    builds: str = "build_optimizer"
    runner: str = "absent"
    default_runner: tuple[str, str] | None = ("EpochBasedRunner", "total_epochs")
    adversarial_key: str | None = None
    unsupported: str | None = None
    #: for wrapper codebases (mmrazor): the train API of each wrapped task, by architecture type
    tasks: dict[str, str] = field(default_factory=dict)
    #: model types that a codebase trains through another codebase's API (mmdet3d segmentors)
    delegates: dict[str, str] = field(default_factory=dict)


_T = "open-mmlab/"

TRAIN_APIS: dict[str, TrainAPI] = {
    # mmdet 2.28.2 mmdet/apis/train.py :: train_detector + mmdet/utils/compat_config.py ::
    # compat_runner_args (docs/optimizer-hooks.md#how-each-trainer-builds-the-hook): fp16
    # merged; distributed untyped -> OptimizerHook; 'runner' not in cfg ->
    # EpochBasedRunner(total_epochs).
    "mmdet": TrainAPI("mmdet", "mmdet==2.28.2: mmdet/apis/train.py :: train_detector", MERGED),
    # mmcls 0.25.0 mmcls/apis/train.py :: train_model: only fp16['loss_scale'] is read
    # (docs/fp16.md#top-level-fp16-per-codebase); distributed untyped -> mmcls
    # DistOptimizerHook; runner None -> EpochBasedRunner.
    "mmcls": TrainAPI(
        "mmcls",
        "mmcls==0.25.0: mmcls/apis/train.py :: train_model",
        LOSS_SCALE_ONLY,
        dist_hook="DistOptimizerHook",
        runner="none",
    ),
    # mmseg 0.30.0 mmseg/apis/train.py :: train_segmentor (docs/fp16.md): cfg.optimizer_config
    # straight to register_training_hooks; runner None -> IterBasedRunner(total_iters).
    "mmseg": TrainAPI(
        "mmseg",
        "mmsegmentation==0.30.0: mmseg/apis/train.py :: train_segmentor",
        FP16_IGNORED,
        dist_hook=None,
        runner="none",
        default_runner=("IterBasedRunner", "total_iters"),
    ),
    # mmgen 0.7.3 mmgen/apis/train.py :: train_model (docs/optimizer-hooks.md): tests
    # cfg.optimizer_cfg (not optimizer_config), so normal configs get no optimizer hook;
    # build_optimizers.
    "mmgen": TrainAPI(
        "mmgen",
        "mmgen==0.7.3: mmgen/apis/train.py :: train_model",
        HOOKLESS,
        builds="build_optimizers",
        runner="none",
        default_runner=("IterBasedRunner", "total_iters"),
    ),
    # mmedit 0.16.1 mmedit/apis/train.py :: _non_dist_train/_dist_train (docs/gan.md): optimizers
    # from cfg.optimizers, no optimizer hook, IterBasedRunner run for cfg.total_iters.
    "mmedit": TrainAPI(
        "mmedit",
        "mmedit==0.16.1: mmedit/apis/train.py :: _non_dist_train/_dist_train",
        HOOKLESS,
        builds="build_optimizers",
        runner="fixed",
        default_runner=("IterBasedRunner", "total_iters"),
    ),
    # mmpose/apis/train.py :: train_model: build_optimizers; always EpochBasedRunner run for
    # cfg.total_epochs; use_adversarial_train -> optimizer_config = None; else fp16 merged,
    # distributed untyped -> OptimizerHook.
    "mmpose": TrainAPI(
        "mmpose",
        _T + "mmpose@01574c0b: mmpose/apis/train.py :: train_model",
        MERGED,
        builds="build_optimizers",
        runner="fixed",
        adversarial_key="use_adversarial_train",
    ),
    # mmaction/apis/train.py :: train_model: build_optimizer; EpochBasedRunner (OmniSourceRunner
    # with omnisource) always, run for cfg.total_epochs; fp16 merged; dist -> OptimizerHook.
    "mmaction2": TrainAPI(
        "mmaction2",
        _T + "mmaction2@0087320e: mmaction/apis/train.py :: train_model",
        MERGED,
        runner="fixed",
    ),
    # mmocr/apis/train.py :: train_detector: as mmdet ('runner' not in cfg -> EpochBasedRunner).
    "mmocr": TrainAPI(
        "mmocr", _T + "mmocr@02491771: mmocr/apis/train.py :: train_detector", MERGED
    ),
    # mmrotate/apis/train.py :: train_detector: "copied from mmdet" (compat_cfg, fp16 merged,
    # NPU default fp16 not modelled).
    "mmrotate": TrainAPI(
        "mmrotate", _T + "mmrotate@04405ab0: mmrotate/apis/train.py :: train_detector", MERGED
    ),
    # mmdet3d/apis/train.py :: train_model: EncoderDecoder3D -> train_segmentor (mmseg rules:
    # optimizer_config as is, runner None -> IterBasedRunner); others -> train_detector (mmdet).
    "mmdet3d": TrainAPI(
        "mmdet3d",
        _T + "mmdetection3d@0a37d7c0: mmdet3d/apis/train.py :: train_model",
        MERGED,
        delegates={"EncoderDecoder3D": "mmseg"},
    ),
    # mmtrack/apis/train.py :: train_model: build_optimizer; always EpochBasedRunner run for
    # cfg.total_epochs; fp16 merged (mmdet's Fp16OptimizerHook alias); dist -> OptimizerHook.
    "mmtrack": TrainAPI(
        "mmtrack",
        _T + "mmtracking@088fe3bc: mmtrack/apis/train.py :: train_model",
        MERGED,
        runner="fixed",
    ),
    # mmfewshot/detection/apis/train.py :: train_detector (dist -> OptimizerHook) and
    # mmfewshot/classification/apis/train.py :: train_model (dist -> mmcls DistOptimizerHook):
    # both merge fp16 and need a runner key. Non-distributed, both register optimizer_config.
    "mmfewshot": TrainAPI(
        "mmfewshot",
        _T + "mmfewshot@37cd8a1f: mmfewshot/{detection,classification}/apis/train.py",
        MERGED,
        dist_hook="DistOptimizerHook",
        runner="required",
        default_runner=None,
    ),
    # mmflow/apis/train.py :: train_model: fp16 merged; runner None -> IterBasedRunner.
    "mmflow": TrainAPI(
        "mmflow",
        _T + "mmflow@0523c58a: mmflow/apis/train.py :: train_model",
        MERGED,
        runner="none",
        default_runner=("IterBasedRunner", "total_iters"),
    ),
    # mmhuman3d/apis/train.py :: train_model: build_optimizers; runner None -> EpochBasedRunner;
    # use_adversarial_train -> no optimizer hook; else fp16 merged, dist -> OptimizerHook.
    "mmhuman3d": TrainAPI(
        "mmhuman3d",
        _T + "mmhuman3d@093dc4ca: mmhuman3d/apis/train.py :: train_model",
        MERGED,
        builds="build_optimizers",
        runner="none",
        adversarial_key="use_adversarial_train",
    ),
    # mmselfsup/apis/train.py :: train_model: fp16 -> mmselfsup GradAccumFp16OptimizerHook;
    # distributed untyped *or* frozen_layers_cfg -> mmselfsup DistOptimizerHook (update_interval,
    # frozen layers); build_optimizer is mmselfsup's own (paramwise_options); runner required.
    "mmselfsup": TrainAPI(
        "mmselfsup",
        _T + "mmselfsup@002755c8: mmselfsup/apis/train.py :: train_model",
        SELFSUP,
        dist_hook="DistOptimizerHook",
        runner="required",
        default_runner=None,
        unsupported=(
            "mmselfsup 0.x trains with its own optimizer constructor (paramwise_options) and "
            "hooks (DistOptimizerHook with update_interval/frozen_layers_cfg, "
            "GradAccumFp16OptimizerHook), which verify does not re-implement"
        ),
    ),
    # mmrazor/apis/{mmcls,mmdet,mmseg}/train.py: build_optimizers (algorithms may hold several
    # optimizers and step them in train_step, use_ddp_wrapper); fp16 and runner follow the
    # wrapped task's API (mmcls and mmdet: merged; mmseg: ignored); the distributed branch
    # checks optimizer_config is not None.
    "mmrazor": TrainAPI(
        "mmrazor",
        _T + "mmrazor@06e3d873: mmrazor/apis/{mmcls,mmdet,mmseg}/train.py",
        None,
        none_guard=True,
        builds="build_optimizers",
        unsupported=(
            "mmrazor 0.x algorithms (distillers, NAS, pruners) step their optimizers inside "
            "train_step and train through the wrapped task's API; verify trains neither"
        ),
        tasks={
            "MMClsArchitecture": MERGED,  # unlike mmcls itself: Fp16OptimizerHook(**fp16)
            "MMDetArchitecture": MERGED,
            "MMSegArchitecture": FP16_IGNORED,
        },
    ),
}

#: other spellings of the codebase names (repository names, ``mmaction``)
_ALIASES = {
    "mmdetection": "mmdet",
    "mmclassification": "mmcls",
    "mmsegmentation": "mmseg",
    "mmgeneration": "mmgen",
    "mmediting": "mmedit",
    "mmaction": "mmaction2",
    "mmdetection3d": "mmdet3d",
    "mmtracking": "mmtrack",
}


def canonical(name: str) -> str:
    """The table name of a codebase (``'MMDetection'`` -> ``'mmdet'``); unknown names as given."""
    low = name.lower()
    return _ALIASES.get(low, low)


def train_api(name: str, model_type: str | None = None) -> TrainAPI:
    """The row of a codebase, following ``delegates`` for ``model_type``.

    Raises :class:`UnsupportedCodebase` for a name no row knows.
    """
    key = canonical(name)
    api = TRAIN_APIS.get(key)
    if api is None:
        raise UnsupportedCodebase(f"unknown 0.x codebase {name!r}; known: {', '.join(TRAIN_APIS)}")
    if model_type and model_type in api.delegates:
        return TRAIN_APIS[api.delegates[model_type]]
    return api
