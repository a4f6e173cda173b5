"""Unit tests of the config loader on small synthetic config trees.

Where a case is valid upstream, the result is also compared with MMEngine's ``Config.fromfile``
(mmengine-lite is a test-only dependency), so these tests pin the upstream semantics, not ours.
"""

from __future__ import annotations

import copy
import pickle
import textwrap
import warnings
from pathlib import Path

import pytest

from migrate_optim.config import (
    ConfigDict,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    load_config,
    to_plain,
)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def mmengine_dict(path: Path) -> dict:
    mmengine_config = pytest.importorskip("mmengine.config")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mmengine_config.Config.fromfile(str(path), import_custom_modules=False).to_dict()


def assert_like_mmengine(path: Path) -> dict:
    ours = load_config(path)
    assert ours == mmengine_dict(path)
    return ours


# ---------------------------------------------------------------------------------------------
# single files


def test_single_file_keeps_config_names_and_drops_the_rest(tmp_path):
    write_tree(
        tmp_path,
        {
            "cfg.py": """
            import math
            from os import path as osp
            optimizer = dict(type='SGD', lr=0.01, momentum=0.9)
            pipeline = [dict(type='A'), dict(type='B', size=(1, 2))]
            scale = math.sqrt(4)
            _private = 3
            __dunder = 4
            def helper(x):
                return x
            class Thing:
                pass
            steps = [helper(i) for i in range(3)]
            """
        },
    )
    cfg = load_config(tmp_path / "cfg.py")
    assert cfg == {
        "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9},
        "pipeline": [{"type": "A"}, {"type": "B", "size": (1, 2)}],
        "scale": 2.0,
        "_private": 3,
        "steps": [0, 1, 2],
    }
    assert isinstance(cfg, ConfigDict)
    assert isinstance(cfg.pipeline[1], ConfigDict)
    assert cfg.optimizer.lr == 0.01
    assert type(cfg.pipeline[1]["size"]) is tuple


def test_path_may_be_str_or_pathlike_with_user_home(tmp_path, monkeypatch):
    write_tree(tmp_path, {"cfg.py": "a = 1\n"})
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_config("~/cfg.py") == {"a": 1}
    assert load_config(str(tmp_path / "cfg.py")) == {"a": 1}


# ---------------------------------------------------------------------------------------------
# _base_ inheritance


def test_base_string_relative_and_recursive(tmp_path):
    write_tree(
        tmp_path,
        {
            "_base_/models/net.py": """
            model = dict(type='Net', backbone=dict(depth=50, frozen=-1), neck=[1, 2])
            """,
            "_base_/runtime.py": """
            _base_ = './models/net.py'
            log_level = 'INFO'
            """,
            "exp/cfg.py": """
            _base_ = '../_base_/runtime.py'
            model = dict(backbone=dict(depth=101), neck=[3])
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "exp/cfg.py")
    assert cfg == {
        "model": {"type": "Net", "backbone": {"depth": 101, "frozen": -1}, "neck": [3]},
        "log_level": "INFO",
    }
    assert "_base_" not in cfg


def test_base_list_merges_siblings_then_child(tmp_path):
    write_tree(
        tmp_path,
        {
            "a.py": "optimizer = dict(type='SGD', lr=0.1, momentum=0.9)\n",
            "b.py": "optimizer_config = dict(grad_clip=None)\nlr = [1, 2]\n",
            "cfg.py": """
            _base_ = ['./a.py', 'b.py']
            optimizer = dict(lr=0.02)
            lr = [3]
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    assert cfg == {
        "optimizer": {"type": "SGD", "lr": 0.02, "momentum": 0.9},
        "optimizer_config": {"grad_clip": None},
        "lr": [3],
    }


def test_duplicate_keys_among_sibling_bases_is_a_key_error_naming_files(tmp_path):
    write_tree(
        tmp_path,
        {
            "a.py": "optimizer = dict(type='SGD')\n",
            "b.py": "optimizer = dict(type='Adam')\n",
            "cfg.py": "x = 1\n_base_ = ['a.py', 'b.py']\n",
        },
    )
    with pytest.raises(ConfigKeyError) as info:
        load_config(tmp_path / "cfg.py")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'cfg.py'}:2:")
    assert "optimizer" in message and "a.py" in message and "b.py" in message


def test_delete_replaces_the_base_dict(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": """
            optimizer = dict(type='SGD', lr=0.1, paramwise_cfg=dict(norm_decay_mult=0))
            runner = dict(type='EpochBasedRunner', max_epochs=12)
            """,
            "cfg.py": """
            _base_ = 'base.py'
            optimizer = dict(_delete_=True, type='AdamW', lr=1e-4)
            runner = dict(_delete_=False, max_epochs=24)
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    assert cfg["optimizer"] == {"type": "AdamW", "lr": 1e-4}
    # ``_delete_=False`` merges as usual and is dropped.
    assert cfg["runner"] == {"type": "EpochBasedRunner", "max_epochs": 24}


def test_delete_survives_where_no_base_key_meets_it_as_upstream(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "model = dict(type='Net', backbone=dict(depth=50))\n",
            "cfg.py": """
            _base_ = 'base.py'
            model = dict(_delete_=True, type='Other', neck=dict(_delete_=True, k=1))
            extra = dict(_delete_=True, a=1)
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    assert cfg["model"] == {"type": "Other", "neck": {"_delete_": True, "k": 1}}
    assert cfg["extra"] == {"_delete_": True, "a": 1}


def test_child_dict_over_non_dict_base_is_a_type_error_with_line(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "model = dict(backbone=dict(norm_cfg=None))\n",
            "cfg.py": """
            _base_ = 'base.py'
            a = 1

            model = dict(
                backbone=dict(norm_cfg=dict(type='BN')))
            """,
        },
    )
    with pytest.raises(ConfigTypeError) as info:
        load_config(tmp_path / "cfg.py")
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'cfg.py'}:4:")
    assert "model.backbone.norm_cfg" in message and "_delete_=True" in message
    mmengine_config = pytest.importorskip("mmengine.config")
    with pytest.raises(TypeError):
        mmengine_config.Config.fromfile(str(tmp_path / "cfg.py"))


def test_lists_are_replaced_not_merged(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "pipeline = [dict(type='A', x=1), dict(type='B')]\n",
            "cfg.py": "_base_ = 'base.py'\npipeline = [dict(x=2)]\n",
        },
    )
    assert assert_like_mmengine(tmp_path / "cfg.py")["pipeline"] == [{"x": 2}]


def test_base_missing_file_names_the_including_line(tmp_path):
    write_tree(tmp_path, {"cfg.py": "a = 1\n_base_ = ['./missing.py']\n"})
    with pytest.raises(ConfigError, match=r"cfg\.py:2: base config './missing.py' not found"):
        load_config(tmp_path / "cfg.py")


def test_base_cycle_is_reported(tmp_path):
    write_tree(tmp_path, {"a.py": "_base_ = 'b.py'\n", "b.py": "_base_ = 'a.py'\n"})
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.py")


def test_error_in_a_base_names_the_base_file_and_line(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "a = 1\nb = undefined_name + 1\n",
            "cfg.py": "_base_ = 'base.py'\n",
        },
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "cfg.py")
    assert str(info.value).startswith(f"{tmp_path / 'base.py'}:2: NameError")


def test_unsupported_base_forms_are_clear_errors(tmp_path):
    write_tree(
        tmp_path,
        {
            "pkg.py": "_base_ = 'mmdet::_base_/default_runtime.py'\n",
            "computed.py": "parts = ['a.py']\n_base_ = parts\n",
            "lazy.py": "from mmengine.config import read_base\nwith read_base():\n    pass\n",
            "notpy.py": "_base_ = 'base.json'\n",
            "base.json": "{}",
        },
    )
    with pytest.raises(ConfigError, match=r"pkg\.py:1: .*not supported"):
        load_config(tmp_path / "pkg.py")
    with pytest.raises(ConfigError, match=r"computed\.py:2: cannot evaluate _base_"):
        load_config(tmp_path / "computed.py")
    with pytest.raises(ConfigError, match=r"lazy\.py:2: .*read_base"):
        load_config(tmp_path / "lazy.py")
    with pytest.raises(ConfigError, match=r"base\.json: only \.py configs"):
        load_config(tmp_path / "notpy.py")


# ---------------------------------------------------------------------------------------------
# base variables


def test_base_var_placeholders_take_the_merged_base_value(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": """
            img_norm_cfg = dict(mean=[1, 2, 3], to_rgb=True)
            train_pipeline = [dict(type='Load'), dict(type='Norm', **img_norm_cfg)]
            lr = 0.01
            """,
            "cfg.py": """
            _base_ = './base.py'
            data = dict(train=dict(pipeline={{_base_.train_pipeline}}),
                        norm={{ _base_.img_norm_cfg.mean }},
                        steps=[{{_base_.lr}}, ({{_base_.lr}}, 2)])
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    norm_step = {"type": "Norm", "mean": [1, 2, 3], "to_rgb": True}
    assert cfg["data"]["train"]["pipeline"][1] == norm_step
    assert cfg["data"]["norm"] == [1, 2, 3]
    assert cfg["data"]["steps"] == [0.01, (0.01, 2)]
    # The substituted value is a private copy of the base value.
    cfg["data"]["norm"].append(4)
    assert cfg["img_norm_cfg"]["mean"] == [1, 2, 3]


def test_base_var_list_index_extension(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "pipeline = [dict(type='A'), dict(type='B')]\n",
            "cfg.py": "_base_ = 'base.py'\nsecond = {{_base_.pipeline.1}}\n",
        },
    )
    assert load_config(tmp_path / "cfg.py")["second"] == {"type": "B"}


def test_base_var_missing_key_and_inside_string_name_the_line(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "model = dict(type='Net')\n",
            "missing.py": "_base_ = 'base.py'\n\nx = {{_base_.model.backbone}}\n",
            "instring.py": "_base_ = 'base.py'\nname = 'pre-{{_base_.model.type}}'\n",
            "inexpr.py": "_base_ = 'base.py'\nname = {{_base_.model.type}} + '-x'\n",
        },
    )
    with pytest.raises(ConfigKeyError, match=r"missing\.py:3: .*_base_\.model\.backbone"):
        load_config(tmp_path / "missing.py")
    with pytest.raises(ConfigError, match=r"instring\.py:2: .*must stand alone"):
        load_config(tmp_path / "instring.py")
    with pytest.raises(ConfigError, match=r"inexpr\.py:2: .*must stand alone"):
        load_config(tmp_path / "inexpr.py")


def test_base_python_references_like_mmengine(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": """
            model = dict(type='Net', backbone=dict(depth=50), head=dict(num_classes=80))
            train_pipeline = [dict(type='Load'), dict(type='Resize', scale=(1, 1))]
            """,
            "cfg.py": """
            _base_ = './base.py'
            depth = _base_.model.backbone.depth * 2
            model = dict(backbone=dict(depth=depth),
                         head=dict(num_classes=_base_.model.head.num_classes + 1))
            train_pipeline = _base_.train_pipeline
            train_pipeline[1]['scale'] = (2, 2)
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    assert cfg["depth"] == 100
    assert cfg["model"]["backbone"]["depth"] == 100
    assert cfg["model"]["head"]["num_classes"] == 81
    assert cfg["train_pipeline"][1]["scale"] == (2, 2)


def test_base_reference_update_merges_nested_dicts_like_mmengine(tmp_path):
    write_tree(
        tmp_path,
        {
            "base.py": "model = dict(type='Net', backbone=dict(depth=50, style='pytorch'))\n",
            "cfg.py": """
            _base_ = 'base.py'
            _base_.model.update(backbone=dict(depth=101))
            _base_.model.neck = dict(type='FPN')
            _base_.model.neck.out = 4
            """,
        },
    )
    cfg = assert_like_mmengine(tmp_path / "cfg.py")
    assert cfg["model"] == {
        "type": "Net",
        "backbone": {"depth": 101, "style": "pytorch"},
        "neck": {"type": "FPN", "out": 4},
    }


# ---------------------------------------------------------------------------------------------
# other substitutions, deprecation, errors


def test_predefined_and_environment_variables(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "sub/my_cfg.py": """
            work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
            here = '{{fileDirname}}'
            names = ('{{ fileBasename }}', '{{fileExtname}}')
            root = '{{$MO_TEST_ROOT:/data}}/coco'
            classes = {{'$MO_TEST_CLASSES:80'}}
            """
        },
    )
    monkeypatch.delenv("MO_TEST_ROOT", raising=False)
    monkeypatch.setenv("MO_TEST_CLASSES", "3")
    cfg = assert_like_mmengine(tmp_path / "sub/my_cfg.py")
    assert cfg == {
        "work_dir": "./work_dirs/my_cfg",
        "here": str(tmp_path / "sub"),
        "names": ("my_cfg.py", ".py"),
        "root": "/data/coco",
        "classes": 3,
    }


def test_deprecation_key_is_removed_with_a_warning(tmp_path):
    write_tree(
        tmp_path,
        {"cfg.py": "_deprecation_ = dict(expected='new.py', reference='url')\na = 1\n"},
    )
    with pytest.warns(DeprecationWarning, match="new.py"):
        cfg = load_config(tmp_path / "cfg.py")
    assert cfg == {"a": 1}


def test_syntax_and_runtime_errors_name_file_and_line(tmp_path):
    write_tree(
        tmp_path,
        {
            "syntax.py": "a = 1\nb = dict(\nc = 2\n",
            "runtime.py": "a = 1\n\nb = dict(x=1)['y']\n",
            "nested.py": "def f():\n    return 1 / 0\n\nx = f()\n",
        },
    )
    with pytest.raises(ConfigError, match=r"syntax\.py:2: syntax error"):
        load_config(tmp_path / "syntax.py")
    with pytest.raises(ConfigError, match=r"runtime\.py:3: KeyError"):
        load_config(tmp_path / "runtime.py")
    with pytest.raises(ConfigError, match=r"nested\.py:2: ZeroDivisionError") as info:
        load_config(tmp_path / "nested.py")
    assert info.value.line == 2 and info.value.path == str(tmp_path / "nested.py")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.py")


def test_result_values_are_not_shared_between_keys(tmp_path):
    write_tree(
        tmp_path,
        {"cfg.py": "norm = dict(type='BN')\nmodel = dict(a=norm, b=norm)\n"},
    )
    cfg = load_config(tmp_path / "cfg.py")
    cfg.model.a["type"] = "GN"
    assert cfg.model.b["type"] == "BN" and cfg.norm["type"] == "BN"


# ---------------------------------------------------------------------------------------------
# ConfigDict


def test_configdict_behaves_as_a_dict_with_attributes():
    cfg = ConfigDict(a=dict(b=[dict(c=1)], t=(dict(d=2),)))
    assert isinstance(cfg.a, ConfigDict)
    assert isinstance(cfg.a.b[0], ConfigDict) and isinstance(cfg.a.t[0], ConfigDict)
    assert cfg.a.b[0].c == 1
    cfg.x = dict(y=2)
    assert cfg["x"].y == 2
    del cfg.x
    assert "x" not in cfg
    with pytest.raises(AttributeError):
        _ = cfg.missing
    with pytest.raises(AttributeError):
        del cfg.missing
    assert cfg == {"a": {"b": [{"c": 1}], "t": ({"d": 2},)}}

    plain = cfg.to_dict()
    assert type(plain) is dict and type(plain["a"]["b"][0]) is dict
    assert type(plain["a"]["t"]) is tuple and type(plain["a"]["t"][0]) is dict
    assert to_plain(cfg) == plain

    cfg.update(a=dict(b=[], new=1), z=3)
    assert cfg == {"a": {"b": [], "t": ({"d": 2},), "new": 1}, "z": 3}
    assert isinstance(cfg.setdefault("w", dict(k=1)), ConfigDict)
    assert isinstance(cfg.copy(), ConfigDict) and cfg.copy().a is cfg.a

    clone = copy.deepcopy(cfg)
    assert clone == cfg and clone.a is not cfg.a and isinstance(clone.a, ConfigDict)
    restored = pickle.loads(pickle.dumps(cfg))
    assert restored == cfg and isinstance(restored.a, ConfigDict)
