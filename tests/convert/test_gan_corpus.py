"""The MMGeneration 0.7.3 config tree converted as a whole (spec §1, §2, §7 rules 1-6, 12-14).

Which configs have an exact 1.x form is decided here from the spec, per config, not from the
converter's output: every config of the tree converts without a crash; each exact one carries
no TODO of the optimizer/GAN rules (in its file or any file of its ``_base_`` chain); each other
one carries a TODO naming the reason. The converted tree must also load with MMEngine's
``Config`` and convert to itself.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from migrate_optim.convert.core import Converter, ConvertResult
from migrate_optim.convert.emit import TODO_PREFIX
from tests.corpus import corpus_root

mmengine = pytest.importorskip("mmengine")
from mmengine import Config  # noqa: E402

pytestmark = pytest.mark.corpus

CORPUS_NAME = "mmgen-0.7.3"

#: configs whose 0.x training has no exact 1.x form, with a word the TODO must contain (the
#: reason) and where the spec says so
NOT_EXACT: list[tuple[str, str, str]] = [
    # §1.6: MMagic computes the next scale's noise weight at the last iteration of a scale,
    # 0.x at the first: "a behaviour change no config mapping can undo"
    (r"_base_/models/singan/singan\.py", "noise weight", "§1.6"),
    (r"singan/singan_\w+\.py", "noise weight", "§1.6"),
    (r"positional_encoding_in_gans/singan_[\w.-]+\.py", "noise weight", "§1.6"),
    # §1.2 lists the GAN classes; MMGeneration's diffusion model is not one of them
    (r"(_base_/models/)?improved_ddpm/[\w.-]+\.py", "BasicGaussianDiffusion", "§1.2"),
    # §8 item 4: the apex mapping (ApexOptimWrapper) was not analysed
    (r"styleganv2/stylegan2_c2_apex_fp16_[\w.-]+\.py", "apex", "§8.4"),
]
#: TODOs of the optimizer/GAN rules (engine MO0xx, optimizer MO1xx, GAN MO2xx). The tree has
#: other 0.x keys without an exact 1.x form that are not theirs, e.g. CycleGAN's
#: `lr_config=dict(policy='Linear', interval=400)` (spec §8 item 2, the scheduler rules' job)
SCOPE = re.compile(r"\[MO[012]\d\d\]")

#: configs that did not load in 0.x either: their `_base_` file is not in the package
BROKEN_0X = [r"styleganv3/stylegan3_[rt]_[\w.-]+_cvt_official_rgb\.py"]

#: exact conversions checked value by value against the spec's worked examples
SPEC_EXAMPLES = {
    # §2.3 (K=8, S=1, B=8) -> (1, 1, 8); §2.6 BigGAN-128 EMA: interval 8, start 160000 -> 1, 20000
    "biggan/biggan_ajbrock-sn_imagenet1k_128x128_b32x8_1500k.py": {
        ("model", "discriminator_steps"): 1,
        ("model", "generator_steps"): 1,
        ("optim_wrapper", "generator", "accumulative_counts"): 8,
        ("optim_wrapper", "discriminator", "accumulative_counts"): 8,
        ("optim_wrapper", "generator", "optimizer", "lr"): 0.0001,
        ("model", "ema_config"): dict(
            type="ExponentialMovingAverage",
            interval=1,
            momentum=0.0001,
            update_buffers=True,
            start_iter=20000,
        ),
        ("train_cfg",): dict(by_epoch=False, max_iters=1500000),
    },
    # §2.6 BigGAN-CIFAR: interval 4, start 4000 -> 1, 1000 (disc_steps 4, no accumulation)
    "biggan/biggan_cifar10_32x32_b25x2_500k.py": {
        ("model", "discriminator_steps"): 4,
        ("model", "ema_config", "interval"): 1,
        ("model", "ema_config", "start_iter"): 1000,
        ("model", "ema_config", "update_buffers"): False,
    },
    # §2.3 SNGAN-proj: max_iters = 500000 * discriminator_steps
    "sngan_proj/sngan_proj_128_wReLUinplace_Glr-2e-4_Dlr-5e-5_ndisc5_imagenet1k_b128x2.py": {
        ("model", "discriminator_steps"): 5,
        ("train_cfg", "max_iters"): 2500000,
        ("optim_wrapper", "discriminator", "optimizer", "lr"): 0.00005,
    },
    # §2.3 SinGAN fish: 0.x total_iters 22000 -> 66000
    "singan/singan_fish.py": {
        ("train_cfg", "max_iters"): 66000,
        ("model", "discriminator_steps"): 3,
        ("optim_wrapper", "constructor"): "SinGANOptimWrapperConstructor",
    },
    # §7 rule 4
    "pggan/pggan_celeba-cropped_128_g8_12Mimgs.py": {
        ("optim_wrapper", "constructor"): "PGGANOptimWrapperConstructor",
        ("optim_wrapper", "lr_schedule"): {
            "generator": {"128": 0.0015},
            "discriminator": {"128": 0.0015},
        },
    },
    # §7 rule 12: one GradScaler(init_scale=512) -> an AmpOptimWrapper per sub-wrapper
    "styleganv2/stylegan2_c2_fp16_quicktest_ffhq_256_b4x8_800k.py": {
        ("optim_wrapper", "generator", "type"): "AmpOptimWrapper",
        ("optim_wrapper", "discriminator", "loss_scale"): {"init_scale": 512},
    },
}


def classify(rel: str) -> tuple[str, str | None]:
    """('exact' | 'todo' | 'broken', reason word) for one config of the tree."""
    if any(re.fullmatch(p, rel) for p in BROKEN_0X):
        return "broken", None
    for pattern, reason, _ in NOT_EXACT:
        if re.fullmatch(pattern, rel):
            return "todo", reason
    return "exact", None


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ConvertResult]]:
    src = corpus_root(CORPUS_NAME)  # ../shared, the cache, or PyPI; skips with a how-to
    root = tmp_path_factory.mktemp("corpus") / CORPUS_NAME
    shutil.copytree(src, root, copy_function=shutil.copyfile)  # the source may be read-only
    results = _convert(root)
    return root, results


def _convert(root: Path) -> dict[str, ConvertResult]:
    conv = Converter()
    paths = sorted(root.rglob("*.py"))
    for p in paths:
        conv.register(p, p.read_text(encoding="utf-8"))
    results = {
        p.relative_to(root).as_posix(): conv.convert_source(p.read_text(encoding="utf-8"), p)
        for p in paths
    }
    for rel, r in results.items():
        (root / rel).write_text(r.source, encoding="utf-8")
    return results


def _chain(root: Path, rel: str) -> list[str]:
    """The file and every file of its ``_base_`` chain (those that exist)."""
    out, todo = [], [rel]
    while todo:
        cur = todo.pop()
        path = root / cur
        if cur in out or not path.is_file():
            continue
        out.append(cur)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets
            ):
                bases = ast.literal_eval(node.value)
                for b in [bases] if isinstance(bases, str) else bases:
                    todo.append((path.parent / b).resolve().relative_to(root.resolve()).as_posix())
    return out


def _todo_lines(root: Path, rel: str) -> list[str]:
    return [
        line.strip()
        for f in _chain(root, rel)
        for line in (root / f).read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(TODO_PREFIX) and SCOPE.search(line)
    ]


def test_classification_covers_the_tree(converted: tuple[Path, dict]) -> None:
    root, results = converted
    assert len(results) == 149
    kinds = [classify(rel)[0] for rel in results]
    assert kinds.count("broken") == 6
    assert kinds.count("todo") == 19
    for pattern, _, _ in NOT_EXACT:
        assert any(re.fullmatch(pattern, rel) for rel in results), pattern


def test_exact_configs_carry_no_todo(converted: tuple[Path, dict]) -> None:
    root, results = converted
    bad = {
        rel: _todo_lines(root, rel)
        for rel in results
        if classify(rel)[0] == "exact" and _todo_lines(root, rel)
    }
    assert bad == {}


def test_other_configs_carry_a_todo_naming_the_reason(converted: tuple[Path, dict]) -> None:
    root, results = converted
    missing = [
        rel
        for rel in results
        if (kind := classify(rel))[0] == "todo"
        and not any(kind[1] in line for line in _todo_lines(root, rel))
    ]
    assert missing == []


def test_broken_configs_are_reported(converted: tuple[Path, dict]) -> None:
    root, results = converted
    for rel, r in results.items():
        if classify(rel)[0] == "broken":
            assert any(f.rule_id == "MO001" and "not found" in f.message for f in r.findings)


def test_converted_tree_loads_and_has_no_0x_keys(converted: tuple[Path, dict]) -> None:
    root, results = converted
    for rel in results:
        kind, _ = classify(rel)
        if kind == "broken":
            continue
        cfg = Config.fromfile(str(root / rel)).to_dict()  # valid Python, bases resolvable
        if kind != "exact":
            continue
        for key in ("optimizer", "optimizer_config", "runner", "total_iters", "apex_amp"):
            assert key not in cfg, (rel, key)
        hooks = [h.get("type") for h in cfg.get("custom_hooks", [])]
        assert "ExponentialMovingAverageHook" not in hooks, rel
        model = cfg.get("model", {})
        assert "train_cfg" not in model, rel
        tc = cfg.get("train_cfg")
        assert tc is None or tc.get("by_epoch") is False and "max_iters" in tc, rel
        if "optim_wrapper" in cfg:
            assert cfg["optim_wrapper"]["constructor"].endswith("OptimWrapperConstructor"), rel


@pytest.mark.parametrize("rel", sorted(SPEC_EXAMPLES))
def test_spec_examples(converted: tuple[Path, dict], rel: str) -> None:
    root, _ = converted
    cfg = Config.fromfile(str(root / rel)).to_dict()
    for path, want in SPEC_EXAMPLES[rel].items():
        got = cfg
        for k in path:
            got = got[k]
        assert got == want, (rel, path)


def test_second_conversion_is_a_no_op(converted: tuple[Path, dict]) -> None:
    root, _ = converted
    again = _convert(root)
    assert [rel for rel, r in again.items() if r.changed] == []
