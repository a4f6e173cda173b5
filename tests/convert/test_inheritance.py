"""``_base_`` inheritance: once the whole tree is converted, every config resolves to the 1.x
translation of its 0.x self (issue #2, spec §7). Each case is also checked with MMEngine's
``Config.fromfile`` against the independent oracle (``semantics=``)."""

from __future__ import annotations

from tests.convert.helpers import check_noop, check_transformed, run_tree, todos

MODEL = "model = dict(type='MaskRCNN')\n"
SCHEDULE = """
# optimizer
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
"""
SCHEDULE_OUT = """
# optimizer
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=None)
"""
BASES = {"model.py": MODEL, "schedule.py": SCHEDULE}
CHILD_HEAD = "_base_ = ['./model.py', './schedule.py']\n"


def test_base_schedule_is_converted_in_its_own_right():
    result = run_tree(BASES, codebase="mmdet", semantics="mmdet")
    assert result.out("schedule.py") == SCHEDULE_OUT.lstrip("\n")


def test_child_overrides_only_lr():
    check_transformed(
        CHILD_HEAD + "optimizer = dict(lr=0.01)  # 4 GPUs\n",
        CHILD_HEAD + "optim_wrapper = dict(optimizer=dict(lr=0.01))  # 4 GPUs\n",
        files=BASES,
        ids=[],
    )
    run_tree({**BASES, "config.py": CHILD_HEAD + "optimizer = dict(lr=0.01)\n"}, semantics="mmdet")


def test_child_with_only_fp16():
    check_transformed(
        CHILD_HEAD + "# fp16 settings\nfp16 = dict(loss_scale=512.)\n",
        CHILD_HEAD
        + "# fp16 settings\noptim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.)\n",
        files=BASES,
        ids=[],
    )
    run_tree(
        {**BASES, "config.py": CHILD_HEAD + "fp16 = dict(loss_scale='dynamic')\n"},
        semantics="mmdet",
    )


def test_child_with_only_optimizer_config():
    check_transformed(
        CHILD_HEAD + "optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))\n",
        # the base says clip_grad=None: a dict cannot be merged into None without _delete_
        CHILD_HEAD
        + "optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=35, norm_type=2))\n",
        files=BASES,
    )


def test_delete_on_optimizer_config_keeps_the_reset():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02)\n"
        "optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))\n",
    }
    check_transformed(
        CHILD_HEAD + "optimizer_config = dict(_delete_=True)\n",
        CHILD_HEAD + "optim_wrapper = dict(clip_grad=None)\n",
        files=files,
    )
    run_tree(
        {**files, "config.py": CHILD_HEAD + "optimizer_config = dict(_delete_=True)\n"},
        semantics="mmdet",
    )


def test_delete_on_optimizer_config_with_new_clip():
    child = (
        CHILD_HEAD
        + "optimizer_config = dict(\n    _delete_=True, grad_clip=dict(max_norm=35, norm_type=2))\n"
    )
    check_transformed(
        child,
        CHILD_HEAD
        + "optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=35, norm_type=2))\n",
        files=BASES,
    )
    run_tree({**BASES, "config.py": child}, semantics="mmdet")


def test_delete_on_optimizer_replaces_optimizer_and_its_paramwise_cfg():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02, momentum=0.9,\n"
        "                 paramwise_cfg=dict(norm_decay_mult=0.))\n"
        "optimizer_config = dict(grad_clip=None)\n",
    }
    child = CHILD_HEAD + "optimizer = dict(_delete_=True, type='AdamW', lr=0.0001)\n"
    check_transformed(
        child,
        CHILD_HEAD
        + """optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001),
    paramwise_cfg=None)
""",
        files=files,
    )
    run_tree({**files, "config.py": child}, semantics="mmdet")


def test_delete_on_optimizer_with_its_own_paramwise_cfg():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02,\n"
        "                 paramwise_cfg=dict(norm_decay_mult=0., bias_lr_mult=2.))\n",
    }
    child = (
        CHILD_HEAD + "optimizer = dict(\n    _delete_=True,\n    type='AdamW',\n    lr=0.0001,\n"
        "    paramwise_cfg=dict(norm_decay_mult=0.))\n"
    )
    result = run_tree({**files, "config.py": child}, semantics="mmdet")
    # the base's bias_lr_mult must not leak into the child: paramwise_cfg is replaced whole
    assert "paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.)" in result.out()


def test_child_changes_the_hook_type():
    files = {"model.py": MODEL, "schedule.py": "optimizer = dict(type='SGD', lr=0.02)\n"
             "optimizer_config = dict(type='Fp16OptimizerHook', loss_scale=512.)\n"}  # fmt: skip
    child = CHILD_HEAD + "optimizer_config = dict(_delete_=True, grad_clip=None)\n"
    result = run_tree({**files, "config.py": child}, semantics="mmdet")
    # AmpOptimWrapper's loss_scale has no OptimWrapper default: the wrapper is replaced whole
    assert "_delete_=True" in result.out() and "type='OptimWrapper'" in result.out()


def test_fp16_none_in_child_disables_inherited_fp16():
    files = {**BASES, "fp16.py": "_base_ = './schedule.py'\nfp16 = dict(loss_scale=512.)\n"}
    child = "_base_ = ['./model.py', './fp16.py']\nfp16 = None\n"
    result = run_tree({**files, "config.py": child}, semantics="mmdet")
    assert "type='OptimWrapper'" in result.out()
    assert "fp16" not in result.out().split("\n", 1)[1]


def test_three_level_chain():
    files = {
        "model.py": MODEL,
        "schedule.py": SCHEDULE,
        "parent.py": CHILD_HEAD + "optimizer_config = dict(\n"
        "    _delete_=True, grad_clip=dict(max_norm=35, norm_type=2))\n",
        "config.py": "_base_ = './parent.py'\noptimizer = dict(lr=0.005)\nfp16 = dict()\n",
    }
    result = run_tree(files, semantics="mmdet")
    assert result.out() == (
        "_base_ = './parent.py'\n"
        "optim_wrapper = dict(\n"
        "    type='AmpOptimWrapper',\n"
        "    optimizer=dict(lr=0.005),\n"
        "    loss_scale=512.0)\n"
    )


def test_mmseg_child_fp16_placeholder_is_removed_only():
    files = {
        "model.py": "model = dict(type='EncoderDecoder')\n",
        "schedule.py": "optimizer = dict(type='SGD', lr=0.01)\noptimizer_config = dict()\n",
    }
    child = CHILD_HEAD + "optimizer_config = dict(type='Fp16OptimizerHook', loss_scale=512.)\n"
    child += "# fp16 placeholder\nfp16 = dict()\n"
    result = check_transformed(
        child,
        CHILD_HEAD
        + "optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.)\n# fp16 placeholder\n",
        files=files,
        ids=["MO103"],
    )
    # a schedule alone does not show its codebase: the run's other configs tell
    assert result.ids("schedule.py") == ["MO108"]
    assert "assumed mmseg" in result.findings("schedule.py")[0].message
    run_tree({**files, "config.py": child}, codebase="mmseg", semantics="mmseg")


def test_file_without_optimizer_keys_inherits_the_conversion():
    check_noop(
        "_base_ = ['./model.py', './schedule.py']\ndata = dict(samples_per_gpu=4)\n",
        files=BASES,
        ids=[],
    )


def test_missing_base_converts_own_keys_as_overrides():
    result = check_transformed(
        "_base_ = './missing.py'\noptimizer = dict(lr=0.01)\n",
        "_base_ = './missing.py'\noptim_wrapper = dict(optimizer=dict(lr=0.01))\n",
        codebase="mmdet",
        ids=["MO001"],
    )
    assert "not found" in result.findings()[0].message


def test_conflicting_sibling_bases_are_reported():
    files = {"a.py": SCHEDULE, "b.py": "optimizer = dict(type='Adam', lr=0.1)\n"}
    result = run_tree({**files, "config.py": "_base_ = ['./a.py', './b.py']\nfp16 = dict()\n"},
                      codebase="mmdet")  # fmt: skip
    assert "MO001" in result.ids()
    assert "defined in both" in result.findings()[0].message


def test_base_with_a_todo_leaves_the_child_unconverted_with_a_reason():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02)\n"
        "optimizer_config = dict(type='MyHook')\n",
    }
    result = run_tree({**files, "config.py": CHILD_HEAD + "optimizer = dict(lr=0.01)\n"})
    assert todos(result.out("schedule.py"))
    child_todos = todos(result.out())
    assert len(child_todos) == 1 and "(in a base file)" in child_todos[0]
    assert "optimizer = dict(lr=0.01)" in result.out()


def test_child_of_an_already_converted_base():
    files = {
        "model.py": MODEL,
        "schedule.py": "optim_wrapper = dict(type='OptimWrapper',\n"
        "    optimizer=dict(type='SGD', lr=0.02), clip_grad=None)\n",
    }
    result = run_tree({**files, "config.py": CHILD_HEAD + "optimizer = dict(lr=0.01)\n"})
    assert result.out("schedule.py") == files["schedule.py"]
    assert result.out() == CHILD_HEAD + "optim_wrapper = dict(optimizer=dict(lr=0.01))\n"


def test_base_without_visible_codebase_takes_the_runs_codebase():
    files = {
        "model.py": MODEL,
        "schedule.py": SCHEDULE,
        "fp16.py": "_base_ = './schedule.py'\nfp16 = dict(loss_scale=512.)\n",
        "config.py": "_base_ = ['./model.py', './fp16.py']\n",
    }
    result = run_tree(files, semantics="mmdet")
    assert result.out("fp16.py") == (
        "_base_ = './schedule.py'\noptim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.)\n"
    )
    assert result.ids("fp16.py") == ["MO108"]


def test_runs_of_mixed_codebases_assume_nothing():
    files = {
        "det.py": MODEL,
        "seg.py": "model = dict(type='EncoderDecoder')\n",
        "fp16.py": "fp16 = dict(loss_scale=512.)\n",
    }
    result = run_tree(files)
    assert result.ids("fp16.py") == ["MO108"]
    assert "--codebase" in result.findings("fp16.py")[0].message


def test_removal_blocked_when_a_base_keeps_the_key():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02)\n"
        "fp16_cfg = dict(loss_scale=512.)\nfp16 = fp16_cfg\n",
        "config.py": CHILD_HEAD + "fp16 = None\n",
    }
    result = run_tree(files)
    # removing `fp16 = None` would let the (unconverted) base's fp16 through
    assert "fp16 = None" in result.out()
    assert any("base file keeps it" in t for t in todos(result.out()))


def test_delete_without_a_base_value_is_reported():
    result = run_tree(
        {"config.py": MODEL + "optimizer_config = dict(_delete_=True, grad_clip=None)\n"}
    )
    assert result.ids() == ["MO001", "MO102"]
    assert "has nothing to delete" in result.findings()[0].message
    # a hook of defaults only, with no optimizer in the chain, is dropped (see the sibling test)
    assert result.out() == MODEL


def test_child_drops_detect_anomalous_params_of_its_base():
    files = {
        "model.py": MODEL,
        "schedule.py": "optimizer = dict(type='SGD', lr=0.02)\n"
        "optimizer_config = dict(grad_clip=None, detect_anomalous_params=True)\n",
    }
    child = CHILD_HEAD + "optimizer_config = dict(_delete_=True)\n"
    result = check_transformed(
        child,
        CHILD_HEAD + "model_wrapper_cfg = None\n",
        files=files,
    )
    assert "model_wrapper_cfg = dict(" in result.out("schedule.py")
    run_tree({**files, "config.py": child}, semantics="mmdet")


def test_child_disabling_the_only_setting_of_its_base():
    files = {
        "base.py": MODEL + "fp16 = dict()\n",
        "config.py": "_base_ = './base.py'\nfp16 = None\n",
    }
    result = run_tree(files, semantics="mmdet")
    assert result.out("base.py") == MODEL + (
        "optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.0)\n"
    )
    assert result.out() == "_base_ = './base.py'\noptim_wrapper = dict(_delete_=True)\n"


def test_whole_wrapper_replacement_has_no_nested_delete():
    files = {
        "base.py": MODEL + "optimizer = dict(type='Adam', lr=0.1)\nfp16 = dict()\n",
        "config.py": "_base_ = './base.py'\n"
        "optimizer = dict(_delete_=True, type='SGD', lr=0.1)\nfp16 = None\n",
    }
    result = run_tree(files, semantics="mmdet")
    # dropping AMP's loss_scale replaces the wrapper whole; a `_delete_` inside it would stay
    # behind as an optimizer argument
    assert result.out() == (
        "_base_ = './base.py'\n"
        "optim_wrapper = dict(\n"
        "    _delete_=True,\n"
        "    type='OptimWrapper',\n"
        "    optimizer=dict(type='SGD', lr=0.1))\n"
    )


def test_noop_optimizer_config_in_a_sibling_base_does_not_clash():
    # mmselfsup layout: the schedule base has the optimizer, the runtime base a no-op
    # optimizer_config. Both would become `optim_wrapper`, and MMEngine refuses a key that two
    # sibling bases define; the no-op hook is MMEngine's default, so it is dropped instead.
    files = {
        "_base_/schedule.py": "optimizer = dict(type='SGD', lr=0.1, momentum=0.9)\n",
        "_base_/runtime.py": "optimizer_config = dict()  # grad_clip, coalesce, bucket_size_mb\n"
        "log_level = 'INFO'\n",
        "config.py": "_base_ = ['./_base_/schedule.py', './_base_/runtime.py']\n"
        "optimizer = dict(lr=0.01)\n",
    }
    result = run_tree(files, codebase="mmcls", semantics="mmcls")
    runtime = result.out("_base_/runtime.py")
    assert "optim_wrapper" not in runtime and "optimizer_config" not in runtime
    assert "# grad_clip, coalesce, bucket_size_mb" in runtime  # the comment stays
    assert "log_level = 'INFO'" in runtime
    assert "MO102" in {f.rule_id for f in result.results["_base_/runtime.py"].findings}
