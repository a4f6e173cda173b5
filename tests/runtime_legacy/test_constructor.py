"""DefaultOptimizerConstructor / build_optimizer: mmcv 1.7.2 param-group semantics (spec 3.3).

Each paramwise example is checked twice: against groups derived by hand from the spec (always
runs) and against the real mmcv 1.7.2 constructor (when mmcv is installed).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from migrate_optim.runtime.legacy import (
    OPTIMIZER_BUILDERS,
    OPTIMIZERS,
    DefaultOptimizerConstructor,
    build_optimizer,
    build_optimizers,
    describe_param_groups,
    is_dcn_layer,
)

from ._mmcv import mmcv_runner

LR, WD = 0.1, 1e-4


class ToyNet(nn.Module):
    """conv (+bias), depthwise conv (+bias), BN, GN, LN, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.conv = nn.Conv2d(3, 4, 3)
        self.backbone.dw = nn.Conv2d(4, 4, 3, groups=4)
        self.backbone.bn = nn.BatchNorm2d(4)
        self.neck = nn.Module()
        self.neck.gn = nn.GroupNorm(2, 4)
        self.neck.ln = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)


class TiedNet(ToyNet):
    """ToyNet plus a layer sharing the head's weight (a duplicate parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.tied = nn.Linear(4, 2, bias=False)
        self.tied.weight = self.head.weight


class FrozenNet(ToyNet):
    """ToyNet with the plain conv frozen."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone.conv.weight.requires_grad_(False)
        self.backbone.conv.bias.requires_grad_(False)


NAMES = [
    'backbone.conv.weight',
    'backbone.conv.bias',
    'backbone.dw.weight',
    'backbone.dw.bias',
    'backbone.bn.weight',
    'backbone.bn.bias',
    'neck.gn.weight',
    'neck.gn.bias',
    'neck.ln.weight',
    'neck.ln.bias',
    'head.weight',
    'head.bias',
]


def groups_from(table: dict[str, dict]) -> list[dict]:
    """Expected described groups: one per parameter, in module order."""
    return [{'params': [name], **table[name]} for name in table]


def _mults(bias_lr=1.0, bias_decay=1.0, norm_decay=1.0, dw_decay=1.0) -> dict[str, dict]:
    """The spec's rule for a model without custom keys: bias lr on non-norm biases; weight decay
    branch order norm -> dwconv -> bias."""
    norm = {'weight_decay': WD * norm_decay}
    return {
        'backbone.conv.weight': {},
        'backbone.conv.bias': {'lr': LR * bias_lr, 'weight_decay': WD * bias_decay},
        'backbone.dw.weight': {'weight_decay': WD * dw_decay},
        'backbone.dw.bias': {'lr': LR * bias_lr, 'weight_decay': WD * dw_decay},
        'backbone.bn.weight': dict(norm),
        'backbone.bn.bias': dict(norm),
        'neck.gn.weight': dict(norm),
        'neck.gn.bias': dict(norm),
        'neck.ln.weight': dict(norm),
        'neck.ln.bias': dict(norm),
        'head.weight': {},
        'head.bias': {'lr': LR * bias_lr, 'weight_decay': WD * bias_decay},
    }


CUSTOM = {
    'head': dict(lr_mult=0.1, decay_mult=0.5, weight_decay=0.3, momentum=0.5),
    'backbone.bn': dict(lr_mult=2.0),
    # equal length 4: 'gn.w' < 'neck' alphabetically, so 'gn.w' wins for neck.gn.weight
    # (listed second so that insertion order alone would pick 'neck')
    'neck': dict(lr_mult=4.0, decay_mult=0.0),
    'gn.w': dict(lr_mult=3.0),
}


def _custom_table() -> dict[str, dict]:
    table = _mults()
    table['head.weight'] = {'lr': LR * 0.1, 'weight_decay': WD * 0.5}
    table['head.bias'] = {'lr': LR * 0.1, 'weight_decay': WD * 0.5}
    table['backbone.bn.weight'] = {'lr': LR * 2.0, 'weight_decay': WD}
    table['backbone.bn.bias'] = {'lr': LR * 2.0, 'weight_decay': WD}
    table['neck.gn.weight'] = {'lr': LR * 3.0, 'weight_decay': WD}
    for name in ('neck.gn.bias', 'neck.ln.weight', 'neck.ln.bias'):
        table[name] = {'lr': LR * 4.0, 'weight_decay': 0.0}
    return table


def _frozen_table() -> dict[str, dict]:
    table = _mults(bias_decay=0.0)
    table['backbone.conv.weight'] = {}
    table['backbone.conv.bias'] = {}  # frozen: own group, no lr/wd written
    return table


def _tied_table() -> dict[str, dict]:
    table = _mults()
    # tied.weight is head.weight: skipped, so no extra group
    return table


# name -> (model class, paramwise_cfg, expected table)
EXAMPLES = {
    'bias_decay_mult_alone': (ToyNet, dict(bias_decay_mult=0.0), _mults(bias_decay=0.0)),
    'bias_and_dwconv_decay': (
        ToyNet,
        dict(bias_decay_mult=0.0, dwconv_decay_mult=0.5),
        _mults(bias_decay=0.0, dw_decay=0.5),
    ),
    'norm_decay_mult': (ToyNet, dict(norm_decay_mult=0.0), _mults(norm_decay=0.0)),
    'bias_lr_mult': (ToyNet, dict(bias_lr_mult=2.0), _mults(bias_lr=2.0)),
    'custom_keys_extra_keys': (ToyNet, dict(custom_keys=CUSTOM), _custom_table()),
    'frozen_params': (FrozenNet, dict(bias_decay_mult=0.0), _frozen_table()),
    'flat_decay_mult_ignored': (ToyNet, dict(flat_decay_mult=0.0), _mults()),
    'bypass_duplicate': (TiedNet, dict(bypass_duplicate=True), _tied_table()),
}


def _our_groups(model: nn.Module, paramwise: dict) -> list[dict]:
    ctor = DefaultOptimizerConstructor(dict(type='SGD', lr=LR, weight_decay=WD), paramwise)
    groups: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ctor.add_params(groups, model)
    return describe_param_groups(model, groups)


def _assert_groups_equal(actual: list[dict], expected: list[dict]) -> None:
    assert [g['params'] for g in actual] == [g['params'] for g in expected]
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(want), got['params']
        for key in want:
            if key != 'params':
                assert got[key] == pytest.approx(want[key]), (got['params'], key)


@pytest.mark.parametrize('example', sorted(EXAMPLES))
def test_paramwise_groups_match_spec(example: str) -> None:
    model_cls, paramwise, table = EXAMPLES[example]
    torch.manual_seed(0)
    model = model_cls()
    _assert_groups_equal(_our_groups(model, paramwise), groups_from(table))


@pytest.mark.parametrize('example', sorted(EXAMPLES))
def test_paramwise_groups_match_real_mmcv(example: str) -> None:
    runner = mmcv_runner()
    model_cls, paramwise, _ = EXAMPLES[example]
    model = model_cls()
    theirs = runner.DefaultOptimizerConstructor(
        dict(type='SGD', lr=LR, weight_decay=WD), paramwise
    )
    their_groups: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        theirs.add_params(their_groups, model)
    _assert_groups_equal(
        _our_groups(model, paramwise), describe_param_groups(model, their_groups)
    )


@pytest.mark.parametrize('example', sorted(EXAMPLES))
def test_built_optimizer_matches_real_mmcv(example: str) -> None:
    runner = mmcv_runner()
    model_cls, paramwise, _ = EXAMPLES[example]
    model = model_cls()
    cfg = dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD, paramwise_cfg=paramwise)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ours = build_optimizer(model, cfg)
        theirs = runner.build_optimizer(model, cfg)
    assert describe_param_groups(model, ours.param_groups) == describe_param_groups(
        model, theirs.param_groups
    )


def test_bias_decay_alone_keeps_weight_decay_on_norm_and_dwconv_biases() -> None:
    # The behaviour MMEngine changed: there the bias mult would also hit these biases.
    model = ToyNet()
    opt = build_optimizer(
        model, dict(type='SGD', lr=LR, weight_decay=WD, paramwise_cfg=dict(bias_decay_mult=0))
    )
    named = describe_param_groups(model, opt.param_groups)
    wd = {g['params'][0]: g['weight_decay'] for g in named}
    assert wd['backbone.bn.bias'] == pytest.approx(WD)
    assert wd['backbone.dw.bias'] == pytest.approx(WD)
    assert wd['head.bias'] == 0.0


def test_without_paramwise_one_group_with_every_param_including_frozen() -> None:
    model = FrozenNet()
    opt = build_optimizer(model, dict(type='SGD', lr=LR, weight_decay=WD))
    assert len(opt.param_groups) == 1
    assert describe_param_groups(model, opt.param_groups)[0]['params'] == NAMES
    # an empty paramwise_cfg is the same as none
    opt = build_optimizer(model, dict(type='SGD', lr=LR, paramwise_cfg={}))
    assert len(opt.param_groups) == 1


def test_frozen_params_are_kept_as_their_own_groups() -> None:
    model = FrozenNet()
    opt = build_optimizer(
        model, dict(type='SGD', lr=LR, weight_decay=WD, paramwise_cfg=dict(norm_decay_mult=0.0))
    )
    assert len(opt.param_groups) == len(NAMES)
    named = describe_param_groups(model, opt.param_groups)
    assert named[0]['params'] == ['backbone.conv.weight']
    assert named[1]['params'] == ['backbone.conv.bias']
    assert named[1]['lr'] == LR  # optimizer default, not a bias-lr entry


def test_duplicate_params_without_bypass_fail_in_torch() -> None:
    with pytest.raises(ValueError, match='more than one parameter group'):
        build_optimizer(TiedNet(), dict(type='SGD', lr=LR, paramwise_cfg=dict(bias_lr_mult=1.0)))


def test_bypass_duplicate_warns_and_skips() -> None:
    model = TiedNet()
    with pytest.warns(UserWarning, match='tied is duplicate'):
        opt = build_optimizer(
            model, dict(type='SGD', lr=LR, paramwise_cfg=dict(bypass_duplicate=True))
        )
    params = [p for g in opt.param_groups for p in g['params']]
    assert len(params) == len({id(p) for p in params}) == len(NAMES)


@pytest.mark.parametrize(
    ('optimizer_cfg', 'paramwise'),
    [
        (dict(type='SGD', lr=LR), dict(bias_decay_mult=0.0)),
        (dict(type='SGD', lr=LR), dict(norm_decay_mult=0.0)),
        (dict(type='SGD', lr=LR), dict(dwconv_decay_mult=0.0)),
        (dict(type='SGD', lr=LR), dict(custom_keys={'head': dict(decay_mult=0.0)})),
    ],
)
def test_decay_mult_without_weight_decay_is_value_error(optimizer_cfg, paramwise) -> None:
    with pytest.raises(ValueError, match='base_wd'):
        DefaultOptimizerConstructor(optimizer_cfg, paramwise)


def test_lr_mult_without_weight_decay_is_fine_and_writes_no_weight_decay() -> None:
    model = ToyNet()
    ctor = DefaultOptimizerConstructor(
        dict(type='SGD', lr=LR), dict(custom_keys={'head': dict(lr_mult=0.5)})
    )
    groups: list[dict] = []
    ctor.add_params(groups, model)
    named = {g['params'][0]: g for g in describe_param_groups(model, groups)}
    assert named['head.weight'] == {'params': ['head.weight'], 'lr': LR * 0.5}
    assert 'weight_decay' not in named['head.bias']


@pytest.mark.parametrize(
    ('optimizer_cfg', 'paramwise'),
    [
        ([('type', 'SGD')], None),
        (dict(type='SGD', lr=LR), [('bias_lr_mult', 2.0)]),
        (dict(type='SGD', lr=LR), dict(custom_keys=[('head', {})])),
    ],
)
def test_type_errors(optimizer_cfg, paramwise) -> None:
    with pytest.raises(TypeError):
        DefaultOptimizerConstructor(optimizer_cfg, paramwise)


def test_missing_lr_with_paramwise_is_type_error_at_first_bias() -> None:
    # any paramwise option makes mmcv write ``lr`` on biases, even with a mult of 1.0
    ctor = DefaultOptimizerConstructor(
        dict(type='Adadelta', weight_decay=WD), dict(norm_decay_mult=0.0)
    )
    with pytest.raises(TypeError):
        ctor(ToyNet())
    # without paramwise options the optimizer's own default lr is used
    opt = build_optimizer(ToyNet(), dict(type='Adadelta'))
    default_lr = torch.optim.Adadelta([nn.Parameter(torch.ones(1))]).defaults['lr']
    assert opt.param_groups[0]['lr'] == default_lr


def test_error_types_match_real_mmcv() -> None:
    runner = mmcv_runner()
    cases = [
        (dict(type='SGD', lr=LR), dict(bias_decay_mult=0.0)),
        (dict(type='SGD', lr=LR), dict(custom_keys={'head': dict(decay_mult=0.0)})),
        (dict(type='SGD', lr=LR), [('bias_lr_mult', 2.0)]),
        (dict(type='SGD', lr=LR), dict(custom_keys=[('head', {})])),
    ]
    for optimizer_cfg, paramwise in cases:
        with pytest.raises((TypeError, ValueError)) as theirs:
            runner.DefaultOptimizerConstructor(optimizer_cfg, paramwise)
        with pytest.raises(theirs.type):
            DefaultOptimizerConstructor(optimizer_cfg, paramwise)
    their_ctor = runner.DefaultOptimizerConstructor(dict(type='Adadelta'), dict(bias_lr_mult=2.0))
    with pytest.raises(TypeError):
        their_ctor(ToyNet())


# -- DCN offset rules (by class name) ------------------------------------------------------------
class DeformConv2d(nn.Module):
    """Stand-in named like mmcv's op: own weight/bias plus a ``conv_offset`` child conv."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 4, 3, 3))
        self.bias = nn.Parameter(torch.zeros(4))
        self.conv_offset = nn.Conv2d(4, 18, 3)


class ModulatedDeformConv2d(DeformConv2d):
    """Stand-in for the modulated op."""


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """Subclass, recognised through the MRO like an ``isinstance`` check."""


class DcnNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dcn = ModulatedDeformConv2dPack()
        self.plain = nn.Module()
        self.plain.conv_offset = nn.Conv2d(4, 4, 1)  # named conv_offset, parent not a DCN


def test_dcn_layers_are_recognised_by_class_name() -> None:
    assert is_dcn_layer(DeformConv2d())
    assert is_dcn_layer(ModulatedDeformConv2dPack())
    assert not is_dcn_layer(nn.Conv2d(1, 1, 1))


def test_dcn_offset_lr_mult_and_bias_rules() -> None:
    model = DcnNet()
    ctor = DefaultOptimizerConstructor(
        dict(type='SGD', lr=LR, weight_decay=WD),
        dict(dcn_offset_lr_mult=0.1, bias_lr_mult=2.0, bias_decay_mult=0.0),
    )
    groups: list[dict] = []
    ctor.add_params(groups, model)
    named = {g['params'][0]: {k: v for k, v in g.items() if k != 'params'} for g in
             describe_param_groups(model, groups)}
    # the DCN layer's own bias is an ordinary bias (its parent is not a DCN)
    assert named['dcn.bias'] == pytest.approx({'lr': LR * 2.0, 'weight_decay': 0.0})
    assert named['dcn.weight'] == {}
    # offset conv inside a DCN: offset mult for weight and bias, no bias lr/decay
    assert named['dcn.conv_offset.weight'] == pytest.approx({'lr': LR * 0.1})
    assert named['dcn.conv_offset.bias'] == pytest.approx({'lr': LR * 0.1})
    # a conv named conv_offset outside a DCN follows the normal rules
    assert named['plain.conv_offset.bias'] == pytest.approx({'lr': LR * 2.0, 'weight_decay': 0.0})
    assert named['plain.conv_offset.weight'] == {}


# -- build_optimizer / registries ----------------------------------------------------------------
def test_every_torch_optimizer_is_registered() -> None:
    expected = {
        name
        for name in dir(torch.optim)
        if isinstance(getattr(torch.optim, name), type)
        and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
        and name != 'Optimizer'
    }
    assert expected <= set(OPTIMIZERS.keys())
    assert {'SGD', 'Adam', 'AdamW', 'RMSprop'} <= expected


def test_build_optimizer_pops_keys_and_leaves_cfg_untouched() -> None:
    cfg = dict(type='AdamW', lr=1e-3, weight_decay=0.05, paramwise_cfg=dict(norm_decay_mult=0.0))
    snapshot = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    opt = build_optimizer(ToyNet(), cfg)
    assert isinstance(opt, torch.optim.AdamW)
    assert cfg == snapshot
    assert opt.defaults['weight_decay'] == 0.05


def test_unknown_optimizer_type_is_key_error() -> None:
    with pytest.raises(KeyError, match='NoSuchOpt'):
        build_optimizer(ToyNet(), dict(type='NoSuchOpt', lr=LR))


def test_custom_constructor_and_params_keyword() -> None:
    seen: dict = {}

    class TakesModelParams(torch.optim.SGD):
        def __init__(self, model_params, lr):
            super().__init__(model_params, lr=lr)

    class Recording(torch.optim.SGD):
        def __init__(self, params, lr):
            seen['params'] = params
            super().__init__(params, lr=lr)

    OPTIMIZERS.register(TakesModelParams, force=True)
    OPTIMIZERS.register(Recording, force=True)

    @OPTIMIZER_BUILDERS.register(force=True)
    class HeadOnlyConstructor(DefaultOptimizerConstructor):
        def __call__(self, model):
            cfg = dict(self.optimizer_cfg, params=model.head.parameters())
            return OPTIMIZERS.build(cfg)

    opt = build_optimizer(
        ToyNet(), dict(type='SGD', lr=LR, constructor='HeadOnlyConstructor')
    )
    assert sum(len(g['params']) for g in opt.param_groups) == 2
    # mmcv always passes params as ``params``: a class naming it differently fails
    with pytest.raises(TypeError):
        build_optimizer(ToyNet(), dict(type='TakesModelParams', lr=LR))
    build_optimizer(ToyNet(), dict(type='Recording', lr=LR, paramwise_cfg=dict(bias_lr_mult=1)))
    assert isinstance(seen['params'], list) and isinstance(seen['params'][0], dict)


def test_module_wrapper_is_unwrapped() -> None:
    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    inner = ToyNet()
    cfg = dict(type='SGD', lr=LR, paramwise_cfg=dict(bias_lr_mult=2.0))
    opt = build_optimizer(Wrapper(inner), cfg)
    named = describe_param_groups(inner, opt.param_groups)
    assert [g['params'][0] for g in named] == NAMES


def test_build_optimizers_dict_of_dicts_and_single() -> None:
    class GAN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.generator = nn.Linear(2, 2)
            self.discriminator = ToyNet()

    model = GAN()
    opts = build_optimizers(
        model,
        dict(
            generator=dict(type='Adam', lr=1e-4, betas=(0.0, 0.99)),
            discriminator=dict(type='SGD', lr=LR, weight_decay=WD,
                               paramwise_cfg=dict(norm_decay_mult=0.0)),
        ),
    )
    assert set(opts) == {'generator', 'discriminator'}
    assert opts['generator'].param_groups[0]['params'][0] is model.generator.weight
    assert len(opts['discriminator'].param_groups) == len(NAMES)
    single = build_optimizers(model, dict(type='SGD', lr=LR))
    assert isinstance(single, torch.optim.SGD)
    n_params = len(list(model.parameters()))
    assert len(single.param_groups[0]['params']) == n_params
