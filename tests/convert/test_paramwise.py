"""MO105 paramwise_cfg: keep mmcv's meaning under MMEngine (spec §3.3 items 2-5, §7 rule 8)."""

from __future__ import annotations

from tests.convert.helpers import check_transformed, run_tree, todos

HEAD = "model = dict(type='FCOS')\n"


def messages(result) -> list[str]:
    return [f.message for f in result.findings()]


def test_lone_bias_decay_mult_gets_norm_decay_mult():
    result = check_transformed(
        HEAD + "optimizer = dict(\n"
        "    type='SGD', lr=0.01, weight_decay=1e-4,\n"
        "    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))\n",
        HEAD
        + """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, weight_decay=1e-4),
    paramwise_cfg=dict(
        bias_lr_mult=2.,
        bias_decay_mult=0.,
        norm_decay_mult=1.0))
""",
    )
    msgs = messages(result)
    assert any("added norm_decay_mult=1.0" in m for m in msgs)
    # depthwise-conv biases differ (0. in MMEngine vs 1.0 in mmcv): warned
    assert any("depthwise-conv biases" in m and "a mult of 1.0" in m for m in msgs)
    assert any("frozen parameters" in m for m in msgs)
    assert result.ids() == ["MO105"] * 3


def test_bias_with_norm_and_equal_dwconv_mult_is_silent_but_for_frozen_params():
    result = check_transformed(
        HEAD + "optimizer = dict(type='SGD', lr=0.01, weight_decay=1e-4, paramwise_cfg=dict(\n"
        "    bias_decay_mult=0., norm_decay_mult=0., dwconv_decay_mult=0.))\n",
        HEAD
        + """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, weight_decay=1e-4),
    paramwise_cfg=dict(
        bias_decay_mult=0., norm_decay_mult=0., dwconv_decay_mult=0.))
""",
    )
    assert messages(result) == [
        "frozen parameters (requires_grad=False) are no longer added to the optimizer with "
        "paramwise_cfg: 0.x optimizer state dicts will not load into 1.x"
    ]


def test_bias_and_different_dwconv_mult_warns():
    result = run_tree(
        {
            "config.py": HEAD
            + "optimizer = dict(type='SGD', lr=0.01, weight_decay=1e-4, paramwise_cfg=dict(\n"
            "    bias_decay_mult=0., norm_decay_mult=0., dwconv_decay_mult=0.5))\n"
        }
    )
    assert any("dwconv_decay_mult in mmcv" in m for m in messages(result))


def test_flat_decay_mult_is_dropped():
    result = check_transformed(
        HEAD + "optimizer = dict(type='AdamW', lr=1e-4, weight_decay=0.05,\n"
        "                 paramwise_cfg=dict(norm_decay_mult=0., flat_decay_mult=0.))\n",
        HEAD
        + """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.))
""",
    )
    assert any("flat_decay_mult dropped" in m for m in messages(result))


def test_custom_keys_keep_only_lr_and_decay_mult():
    result = check_transformed(
        HEAD
        + """optimizer = dict(
    type='AdamW',
    lr=1e-4,
    weight_decay=0.05,
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, weight_decay=0.),  # mmcv ignored weight_decay
            'head': dict(decay_mult=0.),
        }))
""",
        HEAD
        + """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),  # mmcv ignored weight_decay
            'head': dict(decay_mult=0.)
        }))
""",
    )
    assert any("custom_keys['backbone']: weight_decay dropped" in m for m in messages(result))


def test_untouched_paramwise_is_moved_verbatim():
    src = """optimizer = dict(
    type='AdamW',
    lr=0.0001,
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            # transformer blocks
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
"""
    result = check_transformed(
        HEAD + src,
        HEAD
        + """optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            # transformer blocks
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
""",
    )
    assert result.ids() == ["MO105"]


def test_paramwise_not_a_dict_is_a_todo():
    result = run_tree(
        {"config.py": HEAD + "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=make_pw())\n"}
    )
    assert result.ids() == ["MO105"]
    assert "not a dict literal" in todos(result.out())[0]
    assert "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=make_pw())" in result.out()


def test_paramwise_reference_kept_when_nothing_changes():
    result = check_transformed(
        HEAD + "pw = dict(norm_decay_mult=0.)\n"
        "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=pw)\n",
        HEAD
        + """pw = dict(norm_decay_mult=0.)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01),
    paramwise_cfg=pw)
""",
    )
    assert result.ids() == ["MO105"]  # frozen parameters note only


def test_paramwise_reference_that_needs_changes_is_a_todo():
    result = run_tree(
        {
            "config.py": HEAD + "pw = dict(bias_decay_mult=0.)\n"
            "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=pw)\n"
        }
    )
    assert "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=pw)" in result.out()
    assert any("refers to `pw`" in t for t in todos(result.out()))


def test_paramwise_none_is_copied():
    result = run_tree(
        {"config.py": HEAD + "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=None)\n"}
    )
    assert "paramwise_cfg=None" in result.out() and result.ids() == []


def test_mmselfsup_paramwise_is_a_todo():
    result = run_tree(
        {
            "config.py": "model = dict(type='MoCo')\n"
            "optimizer = dict(type='SGD', lr=0.03, paramwise_cfg=dict(bias_decay_mult=0.))\n"
        }
    )
    assert result.ids() == ["MO105"]
    assert "mmselfsup 0.x registers its own" in todos(result.out())[0]
