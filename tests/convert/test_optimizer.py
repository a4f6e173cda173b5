"""MO101 optimizer -> optim_wrapper, MO109 constructor names (spec §3.3 item 1, §7 rule 6)."""

from __future__ import annotations

from tests.convert.helpers import check_noop, check_transformed, run_tree, todos


def test_single_optimizer_becomes_wrapper():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
        """,
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
        """,
        ids=[],
    )


def test_short_wrapper_stays_on_one_line():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = dict(type='Adam', lr=0.1)
        """,
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.1))
        """,
    )


def test_paramwise_cfg_and_constructor_move_to_the_wrapper():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = dict(
            type='SGD',  # plain SGD
            lr=0.01,
            momentum=0.9,
            constructor='DefaultOptimizerConstructor',
            paramwise_cfg=dict(norm_decay_mult=0.))
        """,
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(
                type='SGD',  # plain SGD
                lr=0.01,
                momentum=0.9),
            constructor='DefaultOptimWrapperConstructor',
            paramwise_cfg=dict(norm_decay_mult=0.))
        """,
        ids=["MO105"],  # frozen parameters note
    )


def test_dict_literal_optimizer():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        optimizer = {'type': 'SGD', 'lr': 0.01, 'paramwise_cfg': {'norm_decay_mult': 0.}}
        """,
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer={'type': 'SGD', 'lr': 0.01},
            paramwise_cfg={'norm_decay_mult': 0.})
        """,
    )


def test_optimizer_with_expressions_of_the_same_file():
    check_transformed(
        """
        model = dict(type='RetinaNet')
        base_lr = 0.01
        optimizer = dict(type='SGD', lr=base_lr * 2, momentum=0.9)
        """,
        """
        model = dict(type='RetinaNet')
        base_lr = 0.01
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=base_lr * 2, momentum=0.9))
        """,
    )


def test_same_name_constructor_mmdet():
    result = check_transformed(
        """
        model = dict(type='MaskRCNN')
        optimizer = dict(
            constructor='LearningRateDecayOptimizerConstructor',
            type='AdamW',
            lr=0.0002,
            paramwise_cfg={'decay_rate': 0.7, 'decay_type': 'layer_wise', 'num_layers': 6})
        """,
        """
        model = dict(type='MaskRCNN')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=0.0002),
            constructor='LearningRateDecayOptimizerConstructor',
            paramwise_cfg={'decay_rate': 0.7, 'decay_type': 'layer_wise', 'num_layers': 6})
        """,
    )
    # the constructor keeps its name and its paramwise_cfg is its own business
    assert result.ids() == ["MO105", "MO109"]
    msgs = {f.rule_id: f for f in result.findings()}
    assert msgs["MO109"].severity.value == "info"
    assert "paramwise_cfg copied as is" in msgs["MO105"].message


def test_same_name_constructors_mmseg():
    for name in ("LearningRateDecayOptimizerConstructor", "LayerDecayOptimizerConstructor"):
        result = run_tree(
            {
                "config.py": f"""
                model = dict(type='EncoderDecoder')
                optimizer = dict(type='AdamW', lr=1e-4, constructor='{name}')
                """
            }
        )
        assert f"constructor='{name}'" in result.out()
        assert [f.severity.value for f in result.findings()] == ["info"]


def test_unknown_constructor_kept_with_warning():
    result = check_transformed(
        """
        model = dict(type='Recognizer2D')
        optimizer = dict(
            type='SGD',
            constructor='TSMOptimizerConstructor',
            paramwise_cfg=dict(fc_lr5=True),
            lr=0.01)
        """,
        """
        model = dict(type='Recognizer2D')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            constructor='TSMOptimizerConstructor',
            paramwise_cfg=dict(fc_lr5=True))
        """,
    )
    ctor = [f for f in result.findings() if f.rule_id == "MO109"]
    assert len(ctor) == 1 and ctor[0].severity.value == "warning"
    assert "TSMOptimizerConstructor" in ctor[0].message and ctor[0].line == 4


def test_refused_constructor_mmpose_layer_decay():
    src = """
    model = dict(type='TopDown')
    optimizer = dict(
        type='AdamW',
        lr=5e-4,
        constructor='LayerDecayOptimizerConstructor',
        paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.75))
    optimizer_config = dict(grad_clip=dict(max_norm=1., norm_type=2))
    """
    result = run_tree({"config.py": src})
    out = result.out()
    # the whole optimizer group is left for the user, marked with a TODO
    assert "optimizer = dict(" in out and "optimizer_config = dict(" in out
    assert "optim_wrapper" not in out
    [todo] = todos(out)
    assert "[MO109]" in todo and "LayerDecayOptimWrapperConstructor" in todo
    assert result.ids() == ["MO109"]


def test_refused_constructor_mmselfsup():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='MAE')
            optimizer = dict(type='AdamW', lr=1e-3, constructor='MAEFtOptimizerConstructor',
                             layer_decay=0.65, model_type='vit')
            """
        }
    )
    assert "optimizer = dict(" in result.out()
    assert any("LearningRateDecayOptimWrapperConstructor" in t for t in todos(result.out()))


def test_paramwise_options_refused():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='SimCLR')
            optimizer = dict(type='LARS', lr=0.3, paramwise_options={
                '(bn|gn)(\\\\d+)?.(weight|bias)': dict(weight_decay=0., lars_exclude=True)})
            """
        }
    )
    assert "optim_wrapper" not in result.out()
    assert any("[MO101]" in t and "regex" in t for t in todos(result.out()))


def test_non_literal_constructor_kept_with_warning():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='RetinaNet')
            ctor = 'MyConstructor'
            optimizer = dict(type='SGD', lr=0.01, constructor=ctor)
            """
        }
    )
    assert "constructor=ctor" in result.out()
    assert result.ids() == ["MO109"]


def test_no_optimizer_keys_is_a_noop():
    check_noop(
        """
        # a dataset config
        data = dict(samples_per_gpu=2)  # per GPU
        checkpoint_config = dict(interval=1)
        """,
        ids=[],
    )


def test_per_module_optimizers_are_left_to_the_gan_rules_or_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='StaticUnconditionalGAN')
            optimizer = dict(
                generator=dict(type='Adam', lr=0.0002),
                discriminator=dict(type='Adam', lr=0.0002))
            """
        }
    )
    out = result.out()
    # never silently left: either a (GAN) rule converted it or it carries a TODO
    assert "optim_wrapper" in out or any("optimizer" in t for t in todos(out))


def test_optimizer_none_outside_gans_gets_a_todo():
    result = run_tree({"config.py": "model = dict(type='RetinaNet')\noptimizer = None\n"})
    assert result.ids() == ["MO110"]
    assert todos(result.out()) == [
        "# TODO(migrate-optim): [MO110] `optimizer` was not converted: no rule handles the "
        "literal None; convert by hand"
    ]


def test_optimizer_expression_gets_a_todo():
    result = run_tree(
        {"config.py": "model = dict(type='RetinaNet')\noptimizer = make_optimizer(lr=0.1)\n"}
    )
    assert result.ids() == ["MO110"]
    assert "an expression" in todos(result.out())[0]


def test_mmedit_single_optimizers_dict_becomes_one_wrapper():
    # mmedit 0.x `optimizers` without a dict of dicts: one optimizer over the whole model
    check_transformed(
        """
        # optimizer
        optimizers = dict(type='Adam', lr=0.00001)
        lr_config = dict(policy='Fixed')
        """,
        """
        # optimizer
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=0.00001))
        """,
        codebase="mmedit",
        ids=[],
    )


def test_optimizers_key_outside_mmedit_is_not_an_optimizer():
    # only MMEditing's trainer read `optimizers`; elsewhere it is some other setting
    check_noop("optimizers = dict(type='Adam', lr=0.00001)\n", codebase="mmdet")
