"""Engine-level behaviour of the converter core (MO001, MO110): comments and layout, dynamic and
referenced names, values that cannot move, stdin, idempotency."""

from __future__ import annotations

import ast
from pathlib import Path

from migrate_optim.convert.core import Converter, ConvertOptions
from tests.convert.helpers import check_transformed, dedent, run_tree, todos

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "convert"


def test_comments_and_layout_outside_rewritten_values_survive_byte_for_byte():
    before = (FIXTURES / "commented_before.py").read_text()
    after = (FIXTURES / "commented_after.py").read_text()
    result = run_tree({"config.py": before})
    assert result.out() == after
    # every statement other than the 0.x optimizer and schedule keys comes out verbatim and in
    # order, and every comment line of the file is still there
    lines = before.splitlines()
    pos = 0
    for node in ast.parse(before).body:
        target = node.targets[0].id if isinstance(node, ast.Assign) else None
        if target in ("optimizer", "optimizer_config", "fp16", "lr_config", "runner"):
            continue
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        pos = after.index(text, pos) + len(text)
    comments = [ln.split("#", 1)[1] for ln in lines if "#" in ln]
    assert all(c in after for c in comments)


def test_statement_comments_follow_the_values_they_describe():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        # optimizer
        optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)  # 8 GPUs
        # no clipping
        optimizer_config = dict(grad_clip=None)  # mmcv default
        # learning policy
        lr_config = dict(policy='step', step=[8, 11])
        """,
        """
        model = dict(type='RetinaNet')
        # optimizer
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),  # 8 GPUs
            clip_grad=None)  # mmcv default
        # no clipping
        # learning policy
        param_scheduler = [
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        """,
    )


def test_one_line_result_keeps_the_statement_comment():
    check_transformed(
        "model = dict(type='RetinaNet')\noptimizer = dict(type='SGD', lr=0.1)  # small\n",
        "model = dict(type='RetinaNet')\n"
        "optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))  # small\n",
    )


def test_comments_inside_moved_entries_travel_with_them():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = dict(
            # the learning rate is for 16 images
            lr=0.02,
            type='SGD',
            paramwise_cfg=dict(norm_decay_mult=0.),  # no decay on norms
        )
        optimizer_config = dict(
            grad_clip=dict(max_norm=35, norm_type=2),  # as in the paper
            # end of hook settings
        )
        """,
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(
                # the learning rate is for 16 images
                lr=0.02,
                type='SGD'),
            paramwise_cfg=dict(norm_decay_mult=0.),  # no decay on norms
            clip_grad=dict(max_norm=35, norm_type=2),  # as in the paper
        )
        # end of hook settings
        """,
    )


def test_header_and_footer_comments():
    check_transformed(
        """
        # Copyright (c) OpenMMLab. All rights reserved.
        optimizer = dict(type='SGD', lr=0.01)
        optimizer_config = dict(grad_clip=None)
        # the end
        """,
        """
        # Copyright (c) OpenMMLab. All rights reserved.
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=None)
        # the end
        """,
        codebase="mmdet",
    )


def test_todo_on_the_first_statement_is_not_repeated():
    result = run_tree({"config.py": "fp16 = dict(loss_scale=512.)\n"})  # unknown codebase
    assert result.ids() == ["MO108"]
    assert len(todos(result.out())) == 1  # run_tree also checked the second run is a no-op


def test_dynamic_names_are_left_with_a_todo():
    for extra in (
        "optimizer['lr'] = 0.1\n",
        "optimizer.update(lr=0.1)\n",
        "optimizer_config = dict(grad_clip=None)\noptimizer_config = dict()\n",
        "if True:\n    optimizer = dict(type='Adam')\n",
    ):
        src = "model = dict(type='RetinaNet')\noptimizer = dict(type='SGD', lr=0.01)\n" + extra
        result = run_tree({"config.py": src})
        assert "optim_wrapper" not in result.out(), extra
        assert "MO001" in result.ids(), extra
        assert any("cannot read" in t for t in todos(result.out())), extra


def test_referenced_names_are_left_with_a_todo():
    src = (
        "model = dict(type='RetinaNet')\noptimizer = dict(type='SGD', lr=0.01)\n"
        "base_lr = optimizer['lr']\n"
    )
    result = run_tree({"config.py": src})
    assert "optimizer = dict(type='SGD', lr=0.01)" in result.out()
    assert result.ids() == ["MO001"]
    assert "referenced by other statements" in result.findings()[0].message


def test_several_statements_on_one_line_are_left_with_a_todo():
    src = "model = dict(type='RetinaNet')\noptimizer = dict(type='SGD', lr=0.01); x = 1\n"
    result = run_tree({"config.py": src})
    assert "optim_wrapper" not in result.out() and result.ids() == ["MO001"]
    assert result.out().splitlines()[1].startswith("# TODO(migrate-optim): [MO001] `optimizer`")
    assert result.out().splitlines()[2] == "optimizer = dict(type='SGD', lr=0.01); x = 1"


def test_value_from_a_base_that_cannot_move_is_a_todo():
    files = {
        "base.py": """
        model = dict(type='RetinaNet')
        base_lr = 0.01
        optimizer = dict(type='SGD', lr=base_lr)
        optimizer_config = dict(type='Fp16OptimizerHook', loss_scale=512.)
        """,
        # dropping the AMP loss_scale needs the whole wrapper, including `lr=base_lr`, which
        # means nothing in this file
        "config.py": "_base_ = './base.py'\noptimizer_config = dict(_delete_=True)\n",
    }
    result = run_tree(files)
    assert result.ids() == ["MO001"]
    assert "expression from a base file" in result.findings()[0].message
    assert "optimizer_config = dict(_delete_=True)" in result.out()
    assert "optim_wrapper = dict(" in result.out("base.py")


def test_stdin_without_path():
    conv = Converter(ConvertOptions(codebase="mmdet"))
    src = "optimizer = dict(type='SGD', lr=0.01)\n"
    result = conv.convert_source(src, None)
    assert result.source == (
        "optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))\n"
    )
    assert result.path is None and result.findings == []


def test_stdin_with_a_base_cannot_read_it():
    conv = Converter(ConvertOptions(codebase="mmdet"))
    result = conv.convert_source("_base_ = './x.py'\noptimizer = dict(lr=0.01)\n", None)
    assert [f.rule_id for f in result.findings] == ["MO001"]
    assert result.findings[0].path == "<stdin>" and result.findings[0].line == 1
    assert result.source == "_base_ = './x.py'\noptim_wrapper = dict(optimizer=dict(lr=0.01))\n"


def test_findings_name_file_and_line():
    result = run_tree(
        {"config.py": "model = dict(type='MyNet')\n\n\noptimizer = None\n"}, codebase="mmdet"
    )
    [f] = result.findings()
    assert f.path.endswith("config.py") and f.line == 4
    assert f.format().endswith(
        ":4: error [MO110] `optimizer` was not converted: no rule handles the literal None; "
        "convert by hand"
    )


def test_converted_output_is_a_fixed_point():
    src = (FIXTURES / "commented_after.py").read_text()
    result = run_tree({"config.py": src})
    assert result.out() == src and result.ids() == []


def test_convert_source_twice_in_one_run_gives_the_same_result(tmp_path):
    (tmp_path / "a.py").write_text("model = dict(type='RetinaNet')\noptimizer = dict(lr=0.1)\n")
    conv = Converter()
    conv.register(tmp_path / "a.py", (tmp_path / "a.py").read_text())
    one = conv.convert_source((tmp_path / "a.py").read_text(), tmp_path / "a.py")
    two = conv.convert_source((tmp_path / "a.py").read_text(), tmp_path / "a.py")
    assert one.source == two.source and one.findings == two.findings


def test_new_text_for_a_registered_path_is_replanned(tmp_path):
    path = tmp_path / "a.py"
    conv = Converter(ConvertOptions(codebase="mmdet"))
    conv.register(path, "optimizer = dict(lr=0.1)\n")
    conv.convert_source("optimizer = dict(lr=0.1)\n", path)
    result = conv.convert_source("optimizer = dict(lr=0.2)\n", path)
    assert "lr=0.2" in result.source


def test_dedent_helper():
    assert dedent("\n    a\n    b\n") == "a\nb\n"


def test_statement_marked_by_an_earlier_run_stays_until_resolved():
    src = (
        "model = dict(type='RetinaNet')\n"
        "optimizer = dict(type='SGD', lr=0.01)\n"
        "# TODO(migrate-optim): [MO102] something an earlier run could not do\n"
        "optimizer_config = dict(grad_clip=None)\n"
    )
    result = run_tree({"config.py": src})
    assert result.out() == src
    assert result.ids() == ["MO001"]
    assert "still carries a TODO" in result.findings()[0].message
    # once the comment is gone, the group converts
    resolved = run_tree({"config.py": src.replace(src.splitlines()[2] + "\n", "")})
    assert "optim_wrapper" in resolved.out() and resolved.ids() == []


def test_new_value_moves_below_the_bindings_it_reads():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = dict(type='SGD', lr=0.01)
        clip = dict(max_norm=1.0)
        optimizer_config = dict(grad_clip=clip)
        """,
        """
        model = dict(type='RetinaNet')
        clip = dict(max_norm=1.0)
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=clip)
        """,
    )
