"""The `verify` command, its JSON report (against the published schema) and `convert --verify`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate_optim.cli import main
from migrate_optim.verify.report import REPORT_SCHEMA
from tests.corpus import corpus_root

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "verify"


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# A small JSON-Schema checker for the subset REPORT_SCHEMA uses (jsonschema is no dependency).
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    errors: list[str] = []
    if "oneOf" in schema:
        if not any(not schema_errors(value, s, where) for s in schema["oneOf"]):
            errors.append(f"{where}: matches no alternative")
        return errors
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, n) for n in names):
            return [f"{where}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{where}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


def test_the_schema_checker_rejects_wrong_documents():
    assert schema_errors({"status": "equivalent"}, REPORT_SCHEMA)
    assert schema_errors([], REPORT_SCHEMA)


# -- verify --------------------------------------------------------------------------------------


def test_help_says_loading_executes_the_configs():
    result = run_cli("verify", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Loading EXECUTES both config files" in text
    for option in ("--model", "--steps", "--device", "--json", "--nproc", "--codebase"):
        assert option in result.output


def test_equivalent_pair_exits_0_with_tables():
    result = run_cli("verify", str(FIXTURES / "sgd_0x.py"), str(FIXTURES / "sgd_1x.py"))
    assert result.exit_code == 0, result.output
    assert "EQUIVALENT" in result.output
    assert "Parameters" in result.output and "conv.weight" in result.output


def test_different_pair_exits_1_and_names_the_difference():
    result = run_cli(
        "verify", str(FIXTURES / "biggan128_0x.py"), str(FIXTURES / "biggan128_1x_doc.py")
    )
    assert result.exit_code == 1
    assert "[hyperparameter] generator: lr 0.0001 (0.x) vs 0.0002 (1.x)" in result.output
    assert "DIFFERENT" in result.output


@pytest.mark.parametrize(
    ("pair", "code", "status"),
    [
        (("biggan128_0x.py", "biggan128_1x.py"), 0, "equivalent"),
        (("biggan128_0x.py", "biggan128_1x_doc.py"), 1, "different"),
        (("sgd_0x.py", "missing.py"), 2, "error"),
    ],
)
def test_json_report_follows_the_schema(pair, code, status):
    result = run_cli("verify", "--json", *(str(FIXTURES / p) for p in pair))
    assert result.exit_code == code
    data = json.loads(result.stdout)
    assert schema_errors(data, REPORT_SCHEMA) == []
    assert data["status"] == status and data["exit_code"] == code
    if status == "different":
        (lr,) = [d for d in data["differences"] if d["kind"] == "hyperparameter"]
        assert (lr["subject"], lr["key"], lr["old"], lr["new"]) == ("generator", "lr", 1e-4, 2e-4)
    if status == "equivalent":
        assert data["old"]["steps"]["generator"] == [7, 15]
        assert data["new"]["modules"]["generator"]["accumulation"] == 8
        assert data["steps"] == 20 and data["params"]


def test_errors_are_one_line_on_stderr_with_exit_2(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("optimizer = dict(type='SGD', lr=0.1\n")
    result = run_cli("verify", str(bad), str(FIXTURES / "sgd_1x.py"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: OLD:")


def test_bad_options_exit_2():
    assert run_cli("verify", "--steps", "0", "a.py", "b.py").exit_code == 2
    assert run_cli("verify", "--device", "tpu", "a.py", "b.py").exit_code == 2


def test_steps_and_codebase_options(tmp_path):
    old = tmp_path / "old.py"
    old.write_text(
        "optimizer = dict(type='SGD', lr=0.01)\noptimizer_config = dict()\n"
        "fp16 = dict(loss_scale=512.)\n"
    )
    new = tmp_path / "new.py"
    new.write_text("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))\n")
    result = run_cli("verify", "--json", str(old), str(new))
    assert result.exit_code == 2 and "--codebase" in json.loads(result.stdout)["error"]
    result = run_cli("verify", "--json", "--codebase", "mmseg", "--steps", "3", str(old), str(new))
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["steps"] == 3 and data["codebase"] == "mmseg"
    result = run_cli("verify", "--json", "--codebase", "mmdet", str(old), str(new))
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["differences"][0]["kind"] == "loss_scale"


def test_codebase_is_detected_from_the_path(tmp_path):
    folder = tmp_path / "mmdet" / "configs"
    folder.mkdir(parents=True)
    old = folder / "old.py"
    old.write_text(
        "optimizer = dict(type='SGD', lr=0.01)\noptimizer_config = dict()\n"
        "fp16 = dict(loss_scale='dynamic')\n"
    )
    new = folder / "new.py"
    new.write_text(
        "optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.01))\n"
    )
    result = run_cli("verify", "--json", str(old), str(new))
    data = json.loads(result.stdout)
    assert result.exit_code == 0, data and data["codebase"] == "mmdet"


# -- convert --verify ----------------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


SCHEDULE = (
    "optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)\n"
    "optimizer_config = dict(grad_clip=None)\n"
)


def test_convert_verify_in_place_verifies_converted_files_and_their_children(tmp_path):
    root = _tree(
        tmp_path / "mmdet",
        {
            "_base_/schedule.py": SCHEDULE,
            "child.py": "_base_ = './_base_/schedule.py'\nmodel = dict(type='RetinaNet')\n",
            "lr.py": "_base_ = './_base_/schedule.py'\noptimizer = dict(lr=0.01)\n",
        },
    )
    result = run_cli("convert", "--verify", str(root))
    assert result.exit_code == 0, result.stderr
    verified = [line for line in result.stderr.splitlines() if line.startswith("verify: ")]
    # The base and both children (one unchanged itself, but inheriting the converted base).
    assert len(verified) == 3 and all("EQUIVALENT" in line for line in verified)
    assert "optim_wrapper" in (root / "_base_/schedule.py").read_text()


def test_convert_verify_json_and_a_difference_exits_1(tmp_path, monkeypatch):
    root = _tree(tmp_path / "mmdet", {"a.py": SCHEDULE})
    from migrate_optim.convert import core

    real = core.Converter.convert_source

    def broken(self, source, path=None):
        result = real(self, source, path)
        # A converter that loses the momentum: verify must catch it.
        result.source = result.source.replace("momentum=0.9, ", "")
        return result

    monkeypatch.setattr(core.Converter, "convert_source", broken)
    result = run_cli("convert", "--verify", "--check", "--json", str(root))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    (report,) = data["verify"]["reports"]
    assert schema_errors(report, REPORT_SCHEMA) == []
    assert any(d["key"] == "momentum" for d in report["differences"])
    assert "momentum=0.9" in (root / "a.py").read_text()  # --check wrote nothing


def test_convert_verify_reports_errors_and_skips_partial_files(tmp_path):
    root = _tree(
        tmp_path / "mmseg",
        {
            "sched.py": "lr_config = dict(policy='poly', power=0.9)\n",
            "opt.py": "optimizer = dict(type='SGD', lr=0.01)\n",
        },
    )
    result = run_cli("convert", "--verify", "--diff", str(root))
    # opt.py has no optimizer_config: mmseg's train API would fail on it (KeyError). The input
    # converted fine, so that is "could not verify" (3), not bad input (2); --diff's "changes
    # needed" (1) takes precedence.
    assert result.exit_code == 1
    assert "error" in result.stderr and "optimizer_config" in result.stderr
    assert "verify summary: 0 equivalent, 0 different, 1 could not verify" in result.stderr
    result = run_cli("convert", "--verify", "--out-dir", str(tmp_path / "out"), str(root))
    assert result.exit_code == 3


def test_convert_verify_stdin_is_not_verified():
    result = CliRunner().invoke(
        main, ["convert", "--verify", "--diff", "-"], input=SCHEDULE, catch_exceptions=False
    )
    assert result.exit_code == 1  # --diff: changes
    assert "<stdin>: not verified" in result.stderr


@pytest.mark.corpus
def test_convert_verify_over_a_sample_of_corpus_configs():
    det = corpus_root("mmdet-2.28.2")
    seg = corpus_root("mmsegmentation-0.30.0")
    inputs = [
        det / "_base_/schedules",
        det / "retinanet/retinanet_r50_fpn_1x_coco.py",
        det / "faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py",
        det / "yolo/yolov3_d53_mstrain-608_273e_coco.py",
        det / "yolo/yolov3_d53_fp16_mstrain-608_273e_coco.py",
        seg / "_base_/schedules",
        seg / "fcn/fcn_r50-d8_512x1024_40k_cityscapes.py",
        seg / "swin/upernet_swin_tiny_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K.py",
        seg / "segformer/segformer_mit-b0_512x512_160k_ade20k.py",
    ]
    # --check writes nothing: the corpus stays as it is.
    result = run_cli("convert", "--check", "--verify", "--json", *map(str, inputs))
    data = json.loads(result.stdout)
    reports = data["verify"]["reports"]
    assert [r["error"] for r in reports if r["status"] == "error"] == []

    # every converted pair trains the same, schedules (issue 8) included
    assert [r["old"]["path"] for r in reports if r["status"] == "different"] == []
    verified = {Path(r["old"]["path"]).name for r in reports}
    assert {
        "schedule_1x.py",
        "retinanet_r50_fpn_1x_coco.py",
        "faster_rcnn_r50_fpn_1x_coco.py",
    } <= verified
    assert "segformer_mit-b0_512x512_160k_ade20k.py" in verified
    assert result.exit_code == 1  # --check: files would change; verification passed
    amp = next(r for r in reports if "yolov3_d53_fp16" in r["old"]["path"])
    assert amp["old"]["modules"][""]["amp"]["mode"] == "dynamic"


def test_convert_verify_without_corpus_tree_copy_keeps_relative_bases(tmp_path):
    # The original tree is written next to the converted one, so '../' bases still resolve.
    root = _tree(
        tmp_path / "cfgs" / "mmdet",
        {
            "schedules/s.py": SCHEDULE,
            "deep/er/child.py": "_base_ = ['../../schedules/s.py']\noptimizer = dict(lr=0.01)\n",
        },
    )
    out = tmp_path / "out"
    result = run_cli("convert", "--verify", "--out-dir", str(out), str(root))
    assert result.exit_code == 0, result.stderr
    assert sum("EQUIVALENT" in line for line in result.stderr.splitlines()) == 2
    shutil.rmtree(out)
