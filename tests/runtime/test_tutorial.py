# ruff: noqa: B007, B020, B905, E402, F811, I001
"""The code examples of MMEngine's OptimWrapper tutorial (seed 002), one test each.

Each example's code is copied unchanged except its MMEngine import line, which becomes
``from migrate_optim.runtime import ...``. Examples that build on earlier ones (the tutorial
reuses ``model``, ``optimizer``, ``inputs``...) first run the earlier code, also unchanged.
Assertions and reference computations are added around the examples, never inside them.
"""

import copy
import logging

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from migrate_optim.runtime import OPTIM_WRAPPER_CONSTRUCTORS, AmpOptimWrapper, OptimWrapper

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LOGGER = "migrate_optim.runtime"

# What the tutorial prints for AmpOptimWrapper.state_dict()['loss_scaler'].
DOCUMENTED_LOSS_SCALER = {
    "scale": 65536.0,
    "growth_factor": 2.0,
    "backoff_factor": 0.5,
    "growth_interval": 2000,
    "_growth_tracker": 0,
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _log_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def _amp_reference(model, optimizer, inputs, targets, accumulative_counts, device):
    """Plain-torch AMP training of copies of model/optimizer, for comparison."""
    original = model
    model = copy.deepcopy(model)
    # Accumulated gradients left by the previous example take part in the next step.
    for copied, param in zip(model.parameters(), original.parameters()):
        copied.grad = None if param.grad is None else param.grad.clone()
    opt = type(optimizer)(model.parameters(), **optimizer.defaults)
    opt.load_state_dict(optimizer.state_dict())
    scaler = torch.amp.GradScaler(device)
    for idx, (input, target) in enumerate(zip(inputs, targets)):
        with torch.autocast(device):
            output = model(input.to(device))
        loss = F.l1_loss(output, target.to(device))
        if accumulative_counts > 1:
            loss = loss / accumulative_counts
        scaler.scale(loss).backward()
        if (idx + 1) % accumulative_counts == 0:
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
    return model


# -- 1.1 / 1.2: single precision -------------------------------------------------------------


def test_single_precision_training_with_optim_wrapper():
    import torch
    from torch.optim import SGD
    import torch.nn as nn
    import torch.nn.functional as F

    inputs = [torch.zeros(10, 1, 1)] * 10
    targets = [torch.ones(10, 1, 1)] * 10
    model = nn.Linear(1, 1)
    optimizer = SGD(model.parameters(), lr=0.01)
    optimizer.zero_grad()

    for input, target in zip(inputs, targets):
        output = model(input)
        loss = F.l1_loss(output, target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    reference = copy.deepcopy(model)
    reference_optimizer = SGD(reference.parameters(), lr=0.01)
    bias_before = model.bias.detach().clone()

    from migrate_optim.runtime import OptimWrapper

    optim_wrapper = OptimWrapper(optimizer=optimizer)

    for input, target in zip(inputs, targets):
        output = model(input)
        loss = F.l1_loss(output, target)
        optim_wrapper.update_params(loss)

    for input, target in zip(inputs, targets):
        loss = F.l1_loss(reference(input), target)
        loss.backward()
        reference_optimizer.step()
        reference_optimizer.zero_grad()

    assert torch.equal(model.weight, reference.weight)
    assert torch.equal(model.bias, reference.bias)
    # Inputs are zeros, so only the bias moves: +lr per step while it is below the target.
    torch.testing.assert_close(model.bias, bias_before + 10 * 0.01)
    assert optim_wrapper.inner_count == 10


# -- 2.x / 3.x: mixed precision (CUDA, as in the tutorial) -----------------------------------


def _tutorial_setup():
    from torch.optim import SGD

    inputs = [torch.zeros(10, 1, 1)] * 10
    targets = [torch.ones(10, 1, 1)] * 10
    model = nn.Linear(1, 1)
    optimizer = SGD(model.parameters(), lr=0.01)
    optimizer.zero_grad()

    for input, target in zip(inputs, targets):
        output = model(input)
        loss = F.l1_loss(output, target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


@pytest.mark.cuda
@cuda
def test_mixed_precision_training_with_amp_optim_wrapper():
    model, optimizer = _tutorial_setup()

    from torch.cuda.amp import autocast

    model = model.cuda()
    inputs = [torch.zeros(10, 1, 1, 1)] * 10
    targets = [torch.ones(10, 1, 1, 1)] * 10

    for input, target in zip(inputs, targets):
        with autocast():
            output = model(input.cuda())
        loss = F.l1_loss(output, target.cuda())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    expected = _amp_reference(model, optimizer, inputs, targets, 1, "cuda")

    from migrate_optim.runtime import AmpOptimWrapper

    optim_wrapper = AmpOptimWrapper(optimizer=optimizer)

    for input, target in zip(inputs, targets):
        with optim_wrapper.optim_context(model):
            output = model(input.cuda())
        loss = F.l1_loss(output, target.cuda())
        optim_wrapper.update_params(loss)

    assert optim_wrapper.device_type == "cuda"
    assert optim_wrapper.inner_count == 10
    torch.testing.assert_close(model.weight, expected.weight)
    torch.testing.assert_close(model.bias, expected.bias)


@pytest.mark.cuda
@cuda
def test_mixed_precision_with_gradient_accumulation():
    model, optimizer = _tutorial_setup()
    from torch.cuda.amp import autocast

    model = model.cuda()
    inputs = [torch.zeros(10, 1, 1, 1)] * 10
    targets = [torch.ones(10, 1, 1, 1)] * 10

    for idx, (input, target) in enumerate(zip(inputs, targets)):
        with autocast():
            output = model(input.cuda())
        loss = F.l1_loss(output, target.cuda())
        loss.backward()
        if idx % 2 == 0:
            optimizer.step()
            optimizer.zero_grad()

    expected = _amp_reference(model, optimizer, inputs, targets, 2, "cuda")

    optim_wrapper = AmpOptimWrapper(optimizer=optimizer, accumulative_counts=2)

    for input, target in zip(inputs, targets):
        with optim_wrapper.optim_context(model):
            output = model(input.cuda())
        loss = F.l1_loss(output, target.cuda())
        optim_wrapper.update_params(loss)

    assert optim_wrapper.inner_count == 10
    torch.testing.assert_close(model.weight, expected.weight)
    torch.testing.assert_close(model.bias, expected.bias)


@pytest.mark.cuda
@cuda
def test_fine_grained_backward_step_zero_grad():
    model, optimizer = _tutorial_setup()
    model = model.cuda()
    inputs = [torch.zeros(10, 1, 1, 1)] * 10
    targets = [torch.ones(10, 1, 1, 1)] * 10
    optim_wrapper = AmpOptimWrapper(optimizer=optimizer, accumulative_counts=2)
    bias_before = model.bias.detach().clone()

    for idx, (input, target) in enumerate(zip(inputs, targets)):
        optimizer.zero_grad()
        with optim_wrapper.optim_context(model):
            output = model(input.cuda())
        loss = F.l1_loss(output, target.cuda())
        optim_wrapper.backward(loss)
        if idx % 2 == 0:
            optim_wrapper.step()
            optim_wrapper.zero_grad()

    assert optim_wrapper.inner_count == 10
    # Five steps at indices 0, 2, 4, 6, 8 (one of them may be skipped by the dynamic scaler).
    assert not torch.equal(model.bias, bias_before)
    assert torch.all(model.bias > bias_before)


@pytest.mark.cuda
@cuda
def test_gradient_clipping_configuration():
    model, optimizer = _tutorial_setup()
    model = model.cuda()

    # based on torch.nn.utils.clip_grad_norm_ method
    optim_wrapper = AmpOptimWrapper(
        optimizer=optimizer, clip_grad=dict(max_norm=1))

    assert optim_wrapper.clip_func is torch.nn.utils.clip_grad_norm_
    assert optim_wrapper.clip_grad_kwargs == {"max_norm": 1}

    # based on torch.nn.utils.clip_grad_value_ method
    optim_wrapper = AmpOptimWrapper(
        optimizer=optimizer, clip_grad=dict(clip_value=0.2))

    # As in MMEngine, `type` defaults to 'norm' even here (the tutorial omits type='value'), so
    # clip_grad_norm_ is called with clip_value= and fails at the first clipped step.
    assert optim_wrapper.clip_func is torch.nn.utils.clip_grad_norm_
    assert optim_wrapper.clip_grad_kwargs == {"clip_value": 0.2}
    optim_wrapper.backward(model(torch.ones(1, 1).cuda()).sum())
    with pytest.raises(TypeError, match="clip_value"):
        optim_wrapper.step()


# -- get_lr / get_momentum ---------------------------------------------------------------------


def test_get_learning_rate_and_momentum(capsys):
    import torch.nn as nn
    from torch.optim import SGD

    from migrate_optim.runtime import OptimWrapper

    model = nn.Linear(1, 1)
    optimizer = SGD(model.parameters(), lr=0.01)
    optim_wrapper = OptimWrapper(optimizer)

    print(optimizer.param_groups[0]['lr'])  # 0.01
    print(optimizer.param_groups[0]['momentum'])  # 0
    print(optim_wrapper.get_lr())  # {'lr': [0.01]}
    print(optim_wrapper.get_momentum())  # {'momentum': [0]}

    assert capsys.readouterr().out == "0.01\n0\n{'lr': [0.01]}\n{'momentum': [0]}\n"


# -- state dicts -------------------------------------------------------------------------------


def test_export_and_load_state_dicts(capsys):
    """Runs on CPU here: our AmpOptimWrapper does not require CUDA."""
    import torch.nn as nn
    from torch.optim import SGD
    from migrate_optim.runtime import OptimWrapper, AmpOptimWrapper

    model = nn.Linear(1, 1)
    optimizer = SGD(model.parameters(), lr=0.01)

    optim_wrapper = OptimWrapper(optimizer=optimizer)
    amp_optim_wrapper = AmpOptimWrapper(optimizer=optimizer)

    # export state dicts
    optim_state_dict = optim_wrapper.state_dict()
    amp_optim_state_dict = amp_optim_wrapper.state_dict()

    print(optim_state_dict)
    print(amp_optim_state_dict)
    optim_wrapper_new = OptimWrapper(optimizer=optimizer)
    amp_optim_wrapper_new = AmpOptimWrapper(optimizer=optimizer)

    # load state dicts
    amp_optim_wrapper_new.load_state_dict(amp_optim_state_dict)
    optim_wrapper_new.load_state_dict(optim_state_dict)

    # The optimizer part is torch's own state dict (torch 2.13 has more SGD keys than the
    # tutorial shows); the loss scaler part is exactly the documented one.
    plain = optimizer.state_dict()
    out = capsys.readouterr().out.splitlines()
    assert out == [str(plain), str({**plain, "loss_scaler": DOCUMENTED_LOSS_SCALER})]
    assert amp_optim_wrapper_new.loss_scaler.state_dict() == DOCUMENTED_LOSS_SCALER
    assert optim_wrapper_new.get_lr() == {"lr": [0.01]}


# -- OptimWrapperDict --------------------------------------------------------------------------


def test_use_multiple_optimizers(capsys):
    from torch.optim import SGD
    import torch.nn as nn

    from migrate_optim.runtime import OptimWrapper, OptimWrapperDict

    gen = nn.Linear(1, 1)
    disc = nn.Linear(1, 1)
    optimizer_gen = SGD(gen.parameters(), lr=0.01)
    optimizer_disc = SGD(disc.parameters(), lr=0.01)

    optim_wapper_gen = OptimWrapper(optimizer=optimizer_gen)
    optim_wapper_disc = OptimWrapper(optimizer=optimizer_disc)
    optim_dict = OptimWrapperDict(gen=optim_wapper_gen, disc=optim_wapper_disc)

    print(optim_dict.get_lr())  # {'gen.lr': [0.01], 'disc.lr': [0.01]}
    print(optim_dict.get_momentum())  # {'gen.momentum': [0], 'disc.momentum': [0]}

    assert capsys.readouterr().out == (
        "{'gen.lr': [0.01], 'disc.lr': [0.01]}\n{'gen.momentum': [0], 'disc.momentum': [0]}\n"
    )


# -- configs -----------------------------------------------------------------------------------


def _built_sgd(optim_wrapper):
    from migrate_optim.runtime import build_optim_wrapper

    wrapper = build_optim_wrapper(nn.Linear(2, 2), optim_wrapper)
    group = wrapper.optimizer.param_groups[0]
    assert isinstance(wrapper.optimizer, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.9, 0.0001)
    return wrapper


def test_config_optim_wrapper_with_type():
    optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
    optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)

    assert type(_built_sgd(optim_wrapper)) is OptimWrapper


def test_config_optim_wrapper_type_omitted():
    optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
    optim_wrapper = dict(optimizer=optimizer)

    assert type(_built_sgd(optim_wrapper)) is OptimWrapper


def test_config_amp_optim_wrapper_with_accumulation():
    optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
    optim_wrapper = dict(type='AmpOptimWrapper', optimizer=optimizer, accumulative_counts=2)

    wrapper = _built_sgd(optim_wrapper)
    assert type(wrapper) is AmpOptimWrapper
    assert wrapper._accumulative_counts == 2
    assert wrapper.device_type == "cpu"


# -- advanced usages ---------------------------------------------------------------------------


def test_torch_param_groups_for_backbone_and_head():
    from torch.optim import SGD
    import torch.nn as nn

    model = nn.ModuleDict(dict(backbone=nn.Linear(1, 1), head=nn.Linear(1, 1)))
    optimizer = SGD([{'params': model.backbone.parameters()},
         {'params': model.head.parameters(), 'lr': 1e-3}],
        lr=0.01,
        momentum=0.9)

    # Wrapped, the two groups expose the base lr pseudo group.
    wrapper = OptimWrapper(optimizer)
    assert wrapper.get_lr() == {"base_lr": [0.01], "lr": [0.01, 1e-3]}
    assert wrapper.get_momentum() == {"momentum": [0.9, 0.9]}


def test_norm_decay_mult_for_normalization_layers(caplog):
    """MMEngine 0.10.7 logs only the options it sets: the tutorial's extra bias lines (lr and
    weight_decay for every bias) come from an older MMEngine that always set them."""
    caplog.set_level(logging.INFO, logger=LOGGER)

    from migrate_optim.runtime import build_optim_wrapper
    from collections import OrderedDict

    class ToyModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.ModuleDict(
                dict(layer0=nn.Linear(1, 1), layer1=nn.Linear(1, 1)))
            self.head = nn.Sequential(
                OrderedDict(
                    linear=nn.Linear(1, 1),
                    bn=nn.BatchNorm1d(1)))


    optim_wrapper = dict(
        optimizer=dict(type='SGD', lr=0.01, weight_decay=0.0001),
        paramwise_cfg=dict(norm_decay_mult=0))
    optimizer = build_optim_wrapper(ToyModel(), optim_wrapper)

    assert _log_lines(caplog) == [
        "paramwise_options -- head.bn.weight:weight_decay=0.0",
        "paramwise_options -- head.bn.bias:weight_decay=0.0",
    ]
    decays = [g["weight_decay"] for g in optimizer.optimizer.param_groups]
    assert decays == [0.0001] * 6 + [0.0, 0.0]


def test_custom_keys_for_modules(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    from migrate_optim.runtime import build_optim_wrapper
    from collections import OrderedDict

    class ToyModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.ModuleDict(
                dict(layer0=nn.Linear(1, 1), layer1=nn.Linear(1, 1)))
            self.head = nn.Sequential(
                OrderedDict(
                    linear=nn.Linear(1, 1),
                    bn=nn.BatchNorm1d(1)))

    optim_wrapper = dict(
        optimizer=dict(type='SGD', lr=0.01, weight_decay=0.0001),
        paramwise_cfg=dict(
            custom_keys={
                'backbone.layer0': dict(lr_mult=0, decay_mult=0),
                'backbone': dict(lr_mult=1),
                'head': dict(lr_mult=0.1)
            }))
    optimizer = build_optim_wrapper(ToyModel(), optim_wrapper)

    documented = """\
paramwise_options -- backbone.layer0.weight:lr=0.0
paramwise_options -- backbone.layer0.weight:weight_decay=0.0
paramwise_options -- backbone.layer0.weight:lr_mult=0
paramwise_options -- backbone.layer0.weight:decay_mult=0
paramwise_options -- backbone.layer0.bias:lr=0.0
paramwise_options -- backbone.layer0.bias:weight_decay=0.0
paramwise_options -- backbone.layer0.bias:lr_mult=0
paramwise_options -- backbone.layer0.bias:decay_mult=0
paramwise_options -- backbone.layer1.weight:lr=0.01
paramwise_options -- backbone.layer1.weight:weight_decay=0.0001
paramwise_options -- backbone.layer1.weight:lr_mult=1
paramwise_options -- backbone.layer1.bias:lr=0.01
paramwise_options -- backbone.layer1.bias:weight_decay=0.0001
paramwise_options -- backbone.layer1.bias:lr_mult=1
paramwise_options -- head.linear.weight:lr=0.001
paramwise_options -- head.linear.weight:weight_decay=0.0001
paramwise_options -- head.linear.weight:lr_mult=0.1
paramwise_options -- head.linear.bias:lr=0.001
paramwise_options -- head.linear.bias:weight_decay=0.0001
paramwise_options -- head.linear.bias:lr_mult=0.1
paramwise_options -- head.bn.weight:lr=0.001
paramwise_options -- head.bn.weight:weight_decay=0.0001
paramwise_options -- head.bn.weight:lr_mult=0.1
paramwise_options -- head.bn.bias:lr=0.001
paramwise_options -- head.bn.bias:weight_decay=0.0001
paramwise_options -- head.bn.bias:lr_mult=0.1"""
    assert _log_lines(caplog) == documented.splitlines()
    assert optimizer.get_lr()["lr"] == [0.0, 0.0, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001]


def test_parameter_names_of_toy_model(capsys):
    from collections import OrderedDict

    class ToyModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.ModuleDict(
                dict(layer0=nn.Linear(1, 1), layer1=nn.Linear(1, 1)))
            self.head = nn.Sequential(
                OrderedDict(
                    linear=nn.Linear(1, 1),
                    bn=nn.BatchNorm1d(1)))

    for name, val in ToyModel().named_parameters():
        print(name)

    assert capsys.readouterr().out.split() == [
        "backbone.layer0.weight",
        "backbone.layer0.bias",
        "backbone.layer1.weight",
        "backbone.layer1.bias",
        "head.linear.weight",
        "head.linear.bias",
        "head.bn.weight",
        "head.bn.bias",
    ]


def test_custom_layer_decay_constructor(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    from migrate_optim.runtime import build_optim_wrapper

    from migrate_optim.runtime import DefaultOptimWrapperConstructor
    from migrate_optim.runtime import OPTIM_WRAPPER_CONSTRUCTORS
    from migrate_optim.runtime import print_log


    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
    class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):

        def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
            super().__init__(optim_wrapper_cfg, paramwise_cfg=None)
            self.decay_factor = paramwise_cfg.get('decay_factor', 0.5)

            super().__init__(optim_wrapper_cfg, paramwise_cfg)

        def add_params(self, params, module, prefix='' ,lr=None):
            if lr is None:
                lr = self.base_lr

            for name, param in module.named_parameters(recurse=False):
                param_group = dict()
                param_group['params'] = [param]
                param_group['lr'] = lr
                params.append(param_group)
                full_name = f'{prefix}.{name}' if prefix else name
                print_log(f'{full_name} : lr={lr}', logger='current')

            for name, module in module.named_children():
                chiled_prefix = f'{prefix}.{name}' if prefix else name
                self.add_params(
                    params, module, chiled_prefix, lr=lr * self.decay_factor)


    class ToyModel(nn.Module):

        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleDict(dict(linear=nn.Linear(1, 1)))
            self.linear = nn.Linear(1, 1)


    model = ToyModel()

    optim_wrapper = dict(
        optimizer=dict(type='SGD', lr=0.01, weight_decay=0.0001),
        paramwise_cfg=dict(decay_factor=0.5),
        constructor='LayerDecayOptimWrapperConstructor')

    optimizer = build_optim_wrapper(model, optim_wrapper)

    assert _log_lines(caplog) == [
        "layer.linear.weight : lr=0.0025",
        "layer.linear.bias : lr=0.0025",
        "linear.weight : lr=0.005",
        "linear.bias : lr=0.005",
    ]
    assert optimizer.get_lr() == {"base_lr": [0.01], "lr": [0.0025, 0.0025, 0.005, 0.005]}


def test_register_multiple_optimizer_constructor():
    try:
        @OPTIM_WRAPPER_CONSTRUCTORS.register_module()
        class MultipleOptimiWrapperConstructor:
            ...

        assert OPTIM_WRAPPER_CONSTRUCTORS.get("MultipleOptimiWrapperConstructor") is (
            MultipleOptimiWrapperConstructor
        )
    finally:
        OPTIM_WRAPPER_CONSTRUCTORS.module_dict.pop("MultipleOptimiWrapperConstructor", None)
