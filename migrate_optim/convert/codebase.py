"""Which 0.x codebase a config belongs to: each trainer applied ``optimizer_config``/``fp16`` its way.

Detection order (spec §3.2: mmdet, mmcls and mmseg treat the top-level ``fp16`` differently, and
mmgen/mmedit ignore ``optimizer_config`` altogether): ``--codebase``, then the path (a folder named
after a package, e.g. ``mmdetection/configs/...`` or the corpus ``mmdet-2.28.2/``), then the model
types of the effective config, then repository markers (a package folder beside a ``configs``
folder up the tree).
"""

from __future__ import annotations

import re
from pathlib import Path

from migrate_optim.convert.static import SDict, SList, SLit, SValue

#: codebases whose 0.x trainers the converter knows (spec §3.2).
KNOWN = ("mmdet", "mmseg", "mmcls", "mmgen", "mmedit")

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
}

# Model types decisive for one codebase (registry names of the 0.x packages).
_MODEL_TYPES: dict[str, set[str]] = {
    "mmseg": {"EncoderDecoder", "CascadeEncoderDecoder"},
    "mmcls": {"ImageClassifier"},
    "mmgen": {
        "StaticUnconditionalGAN",
        "BasiccGAN",
        "BasicConditionalGAN",
        "ProgressiveGrowingGAN",
        "PGGAN",
        "StyleGANV1",
        "MSPIEStyleGAN2",
        "SinGAN",
        "PESinGAN",
        "CycleGAN",
        "Pix2Pix",
        "BasicGaussianDiffusion",
        "StaticTranslationGAN",
    },
    "mmedit": {
        "BasicRestorer",
        "SRGAN",
        "ESRGAN",
        "EDVR",
        "BasicVSR",
        "BasicVSRPlusPlus",
        "TTSR",
        "GLEAN",
        "LIIF",
        "DIC",
        "RealESRGAN",
        "RealBasicVSR",
        "TDAN",
        "OneStageInpaintor",
        "TwoStageInpaintor",
        "PConvInpaintor",
        "DeepFillv1Inpaintor",
        "AOTInpaintor",
        "GCA",
        "DIM",
        "IndexNet",
        "BasicInterpolator",
        "CAIN",
        "FLAVR",
    },
}

_MMDET_PATTERN = re.compile(
    r"(RCNN|RetinaNet|FCOS|YOLO|DETR|SSD|ATSS|FSAF|RepPoints|CornerNet|CenterNet|GFL|PAA|"
    r"VFNet|TOOD|SOLO|YOLACT|CondInst|QueryInst|SCNet|HTC|PointRend|AutoAssign|DDOD|LAD|KD|"
    r"MaskFormer|Mask2Former|NASFCOS|FOVEA|RPN|SparseRCNN|FastRCNN|TridentFasterRCNN|"
    r"SingleStageDetector|TwoStageDetector|KnowledgeDistillationSingleStageDetector)"
)


def detect(path: Path | None, cfg: SDict, forced: str | None = None) -> str | None:
    """The codebase of a config, or None when nothing tells."""
    if forced:
        return forced
    if path is not None:
        found = from_path(path)
        if found:
            return found
    found = from_model(cfg)
    if found:
        return found
    if path is not None:
        return from_repository(path)
    return None


def from_path(path: Path) -> str | None:
    """A folder of the path named after a package (``mmdet``, ``mmdet-2.28.2``, ...)."""
    for part in reversed(path.resolve().parts[:-1]):
        name = part.lower()
        name = re.sub(r"[-_]v?\d+(\.\d+)*.*$", "", name)
        if name in _PATH_NAMES:
            return _PATH_NAMES[name]
    return None


def model_type(cfg: SDict) -> str | None:
    """The ``model.type`` string of an effective config, if static."""
    model = cfg.get("model")
    if isinstance(model, SDict):
        t = model.get("type")
        if isinstance(t, SLit) and isinstance(t.value, str):
            return t.value
    return None


def from_model(cfg: SDict) -> str | None:
    """The codebase whose registry owns the model type (or a GAN's sub-module layout)."""
    t = model_type(cfg)
    if t is None:
        return None
    for codebase, names in _MODEL_TYPES.items():
        if t in names:
            return codebase
    if _MMDET_PATTERN.search(t):
        return "mmdet"
    return None


def from_repository(path: Path) -> str | None:
    """A package folder (``mmdet/``, ...) next to a ``configs`` folder above the file."""
    for parent in path.resolve().parents:
        if (parent / "configs").is_dir():
            for name, codebase in _PATH_NAMES.items():
                if (parent / name / "__init__.py").is_file():
                    return codebase
    return None


def literal_str(value: SValue | None) -> str | None:
    """The string a value holds, if it is a string literal."""
    return value.value if isinstance(value, SLit) and isinstance(value.value, str) else None


def is_list_of_dicts(value: SValue | None) -> bool:
    """Whether a value is a list/tuple whose items are all dicts."""
    return isinstance(value, SList) and all(isinstance(i, SDict) for i in value.items)
