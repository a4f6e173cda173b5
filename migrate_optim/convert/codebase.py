"""Which 0.x codebase a config belongs to: each trainer read ``optimizer_config``/``fp16`` its way.

docs/fp16.md#top-level-fp16-per-codebase: mmdet merges the top-level ``fp16`` into its optimizer
hook, mmcls reads only ``fp16['loss_scale']``, mmseg ignores it, and mmgen/mmedit register no
optimizer hook at all.
docs/codebases.md sorts the other OpenMMLab 0.x codebases into the same *train-API profiles*
(#train-api-profiles) and lists the signals that identify them (#telling-the-codebase).

Detection order: ``--codebase``; a folder of the path named after a package (``mmdetection/``,
the corpus ``mmdet-2.28.2/``); structural keys decisive for one codebase (``algorithm=``,
``optimizers=``, ``paramwise_options``, ...); the top-level ``model.type`` (exact registry
names first, then a pattern for mmdet detector names); ``custom_imports``; a package folder
beside a ``configs`` folder up the tree. Everything is data, so the tables can grow.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from migrate_optim.codebases import (  # noqa: F401 - re-exported profile names
    FP16_IGNORED,
    HOOKLESS,
    LOSS_SCALE_ONLY,
    MERGED,
    SELFSUP,
    TRAIN_APIS,
)
from migrate_optim.convert.static import SDict, SList, SLit, SValue, resolved

#: codebases the converter knows, i.e. the values ``--codebase`` accepts.
KNOWN = (
    "mmdet",
    "mmseg",
    "mmcls",
    "mmgen",
    "mmedit",
    "mmpose",
    "mmaction2",
    "mmocr",
    "mmrotate",
    "mmdet3d",
    "mmtrack",
    "mmfewshot",
    "mmflow",
    "mmhuman3d",
    "mmselfsup",
    "mmrazor",
)

# Train-API profiles: how each trainer turns optimizer_config/fp16 into a hook. The table of
# codebases is shared with verify (migrate_optim/codebases.py, one row per 0.x train API).
_PROFILES: dict[str, str] = {
    name: api.fp16 for name, api in TRAIN_APIS.items() if api.fp16 is not None
}

#: codebases whose distributed trainer builds their own ``DistOptimizerHook`` when
#: ``optimizer_config`` has no ``type``; the others build mmcv's OptimizerHook.
OWN_DIST_HOOK = {name for name, api in TRAIN_APIS.items() if api.dist_hook == "DistOptimizerHook"}

#: folder names (version suffixes stripped) -> codebase
_PATH_NAMES: dict[str, str] = {
    "mmdet": "mmdet",
    "mmdetection": "mmdet",
    "mmseg": "mmseg",
    "mmsegmentation": "mmseg",
    "mmcls": "mmcls",
    "mmclassification": "mmcls",
    "mmgen": "mmgen",
    "mmgeneration": "mmgen",
    "mmedit": "mmedit",
    "mmediting": "mmedit",
    "mmpose": "mmpose",
    "mmaction": "mmaction2",
    "mmaction2": "mmaction2",
    "mmocr": "mmocr",
    "mmrotate": "mmrotate",
    "mmdet3d": "mmdet3d",
    "mmdetection3d": "mmdet3d",
    "mmtrack": "mmtrack",
    "mmtracking": "mmtrack",
    "mmfewshot": "mmfewshot",
    "mmflow": "mmflow",
    "mmhuman3d": "mmhuman3d",
    "mmselfsup": "mmselfsup",
    "mmrazor": "mmrazor",
}

#: package names used in ``custom_imports`` (``imports=['mmcls.models']``) -> codebase
_IMPORT_NAMES: dict[str, str] = {
    "mmdet": "mmdet",
    "mmseg": "mmseg",
    "mmcls": "mmcls",
    "mmgen": "mmgen",
    "mmedit": "mmedit",
    "mmpose": "mmpose",
    "mmaction": "mmaction2",
    "mmocr": "mmocr",
    "mmrotate": "mmrotate",
    "mmdet3d": "mmdet3d",
    "mmtrack": "mmtrack",
    "mmfewshot": "mmfewshot",
    "mmflow": "mmflow",
    "mmhuman3d": "mmhuman3d",
    "mmselfsup": "mmselfsup",
    "mmrazor": "mmrazor",
}

# Top-level ``model.type`` values decisive for one codebase
# (docs/codebases.md#telling-the-codebase; docs/gan.md for mmgen). Names registered by two
# codebases (CycleGAN/Pix2Pix: mmgen and mmedit) are decided by structural keys first.
_MODEL_TYPES: dict[str, frozenset[str]] = {
    "mmdet": frozenset(
        "ATSS AutoAssign CascadeRCNN CenterNet CornerNet DDOD DETR DeformableDETR FastRCNN "
        "FasterRCNN FCOS FOVEA FSAF GFL GridRCNN HybridTaskCascade "
        "KnowledgeDistillationSingleStageDetector LAD Mask2Former MaskFormer MaskRCNN "
        "MaskScoringRCNN NASFCOS PAA PanopticFPN PointRend QueryInst RPN RepPointsDetector "
        "RetinaNet SCNet SingleStageDetector SOLO SOLOv2 SparseRCNN TOOD TridentFasterRCNN "
        "TwoStageDetector VFNet YOLACT YOLOF YOLOV3 YOLOX".split()
    ),
    "mmseg": frozenset({"EncoderDecoder", "CascadeEncoderDecoder"}),
    "mmcls": frozenset({"ImageClassifier"}),
    "mmgen": frozenset(
        "StaticUnconditionalGAN BasiccGAN BasicConditionalGAN ProgressiveGrowingGAN PGGAN "
        "StyleGANV1 MSPIEStyleGAN2 SinGAN PESinGAN CycleGAN Pix2Pix BasicGaussianDiffusion "
        "StaticTranslationGAN".split()
    ),
    "mmedit": frozenset(
        "BasicRestorer SRGAN ESRGAN EDVR BasicVSR BasicVSRPlusPlus TTSR GLEAN LIIF DIC "
        "RealESRGAN RealBasicVSR TDAN OneStageInpaintor TwoStageInpaintor PConvInpaintor "
        "DeepFillv1Inpaintor GLInpaintor AOTInpaintor GCA DIM IndexNet BasicInterpolator CAIN "
        "FLAVR".split()
    ),
    "mmpose": frozenset(
        "TopDown AssociativeEmbedding ParametricMesh MultiTask PoseLifter Interhand3D "
        "PoseWarper LSTMPoseMachine".split()
    ),
    "mmaction2": frozenset(
        "Recognizer2D Recognizer3D AudioRecognizer BMN TEM PEM SSN SkeletonGCN".split()
    ),
    "mmocr": frozenset(
        "DBNet PSENet PANet FCENet DRRG TextSnake OCRMaskRCNN CRNNNet SARNet NRTR "
        "RobustScanner SATRN ABINet MASTER SegRecognizer EncodeDecodeRecognizer SDMGR "
        "NerClassifier".split()
    ),
    "mmdet3d": frozenset(
        "VoxelNet DynamicVoxelNet MVXFasterRCNN DynamicMVXFasterRCNN MVXTwoStageDetector "
        "PartA2 VoteNet H3DNet CenterPoint SSD3DNet ImVoteNet FCOSMono3D ImVoxelNet "
        "GroupFree3DNet SMOKEMono3D EncoderDecoder3D".split()
    ),
    "mmrotate": frozenset(
        "RotatedRetinaNet RotatedFasterRCNN OrientedRCNN RoITransformer GlidingVertex ReDet "
        "R3Det S2ANet RotatedRepPoints".split()
    ),
    "mmselfsup": frozenset(
        "BarlowTwins BYOL CAE Classification DeepCluster DenseCL MAE MaskFeat "
        "MMClsImageClassifierWrapper MoCo MoCoV3 NPID ODC RelativeLoc RotationPred SimCLR "
        "SimMIM SimSiam SwAV".split()
    ),
    "mmfewshot": frozenset(
        "Baseline BaselinePlus MAML MatchingNet MetaBaseline NegMargin ProtoNet "
        "RelationNet".split()
    ),
    "mmflow": frozenset(
        "FlowNetC FlowNetS FlowNet2 FlowNetCSS LiteFlowNet PWCNet IRRPWC MaskFlowNet "
        "MaskFlowNetS RAFT Flow1D".split()
    ),
}

#: mmdet detector names not in the exact table (subclasses in user code, older releases)
_MMDET_PATTERN = re.compile(
    r"(RCNN|RetinaNet|FCOS|YOLO|DETR|SSD|ATSS|FSAF|RepPoints|CornerNet|CenterNet|GFL|PAA|"
    r"VFNet|TOOD|SOLO|YOLACT|CondInst|QueryInst|SCNet|HTC|PointRend|AutoAssign|DDOD|LAD|"
    r"MaskFormer|NASFCOS|FOVEA|RPN|SingleStageDetector|TwoStageDetector)"
)

#: mmdet3d segmentors run through an mmseg-style train API
_MMDET3D_SEGMENTORS = frozenset(TRAIN_APIS["mmdet3d"].delegates)
#: mmrazor architectures -> the train API of the task they wrap
_MMRAZOR_TASKS = TRAIN_APIS["mmrazor"].tasks


def detect(path: Path | None, cfg: SDict, forced: str | None = None) -> str | None:
    """The codebase of a config, or None when nothing tells."""
    if forced:
        return forced
    if path is not None:
        found = from_path(path)
        if found:
            return found
    found = from_structure(cfg) or from_model(cfg) or from_imports(cfg)
    if found:
        return found
    if path is not None:
        return from_repository(path)
    return None


def profile(codebase: str | None, cfg: SDict) -> str | None:
    """The train-API profile (:data:`MERGED`, ...) of a codebase for this config, or None."""
    if codebase == "mmdet3d" and model_type(cfg) in _MMDET3D_SEGMENTORS:
        return FP16_IGNORED
    if codebase == "mmrazor":
        algorithm = cfg.get("algorithm")
        arch = algorithm.get("architecture") if isinstance(algorithm, SDict) else None
        arch_type = literal_str(arch.get("type")) if isinstance(arch, SDict) else None
        return _MMRAZOR_TASKS.get(arch_type or "")
    return _PROFILES.get(codebase or "")


def from_path(path: Path) -> str | None:
    """A folder of the path named after a package (``mmdet``, ``mmdet-2.28.2``, ...)."""
    for part in reversed(resolved(path).parts[:-1]):
        name = part.lower()
        name = re.sub(r"[-_]v?\d+(\.\d+)*.*$", "", name)
        if name in _PATH_NAMES:
            return _PATH_NAMES[name]
    return None


def from_structure(cfg: SDict) -> str | None:
    """Top-level keys that only one codebase's configs have.

    See docs/codebases.md#telling-the-codebase.
    """
    if "algorithm" in cfg:
        return "mmrazor"
    if "optimizers" in cfg:
        return "mmedit"
    runner = cfg.get("runner")
    if isinstance(runner, SDict) and literal_str(runner.get("type")) == "DynamicIterBasedRunner":
        return "mmgen"
    optimizer = cfg.get("optimizer")
    hook = cfg.get("optimizer_config")
    if (isinstance(optimizer, SDict) and "paramwise_options" in optimizer) or (
        isinstance(hook, SDict) and "frozen_layers_cfg" in hook
    ):
        return "mmselfsup"
    if "use_infinite_sampler" in cfg:
        return "mmfewshot"
    if "omnisource" in cfg:
        return "mmaction2"
    data = cfg.get("data")
    if isinstance(data, SDict) and "videos_per_gpu" in data:
        return "mmaction2"
    if "use_adversarial_train" in cfg:
        return "mmpose"  # or mmhuman3d: both merge fp16 the mmdet way
    return None


def model_type(cfg: SDict) -> str | None:
    """The top-level ``model.type`` string of an effective config, if static."""
    model = cfg.get("model")
    if isinstance(model, SDict):
        return literal_str(model.get("type"))
    return None


def from_model(cfg: SDict) -> str | None:
    """The codebase whose registry owns the top-level model type."""
    t = model_type(cfg)
    if t is None:
        return None
    for codebase, names in _MODEL_TYPES.items():
        if t in names:
            return codebase
    if _MMDET_PATTERN.search(t):
        return "mmdet"
    return None


def from_imports(cfg: SDict) -> str | None:
    """The package of the first ``custom_imports`` module that names a known codebase."""
    ci = cfg.get("custom_imports")
    imports = ci.get("imports") if isinstance(ci, SDict) else None
    items = imports.items if isinstance(imports, SList) else [imports]
    for item in items:
        name = literal_str(item)
        if name:
            top = name.split(".")[0]
            if top in _IMPORT_NAMES:
                return _IMPORT_NAMES[top]
    return None


def from_repository(path: Path) -> str | None:
    """A package folder (``mmdet/``, ...) next to a ``configs`` folder above the file."""
    return _repository(resolved(path).parent)


@functools.lru_cache(maxsize=1024)
def _repository(folder: Path) -> str | None:
    for parent in (folder, *folder.parents):
        if (parent / "configs").is_dir():
            for name, codebase in _IMPORT_NAMES.items():
                if (parent / name / "__init__.py").is_file():
                    return codebase
    return None


def literal_str(value: SValue | None) -> str | None:
    """The string a value holds, if it is a string literal."""
    return value.value if isinstance(value, SLit) and isinstance(value.value, str) else None


def is_list_of_dicts(value: SValue | None) -> bool:
    """Whether a value is a list/tuple whose items are all dicts."""
    return isinstance(value, SList) and all(isinstance(i, SDict) for i in value.items)
