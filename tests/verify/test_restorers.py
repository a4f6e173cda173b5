"""verify on MMEditing 0.x restorers (``optimizers=dict(generator=...)``) vs MMagic 1.x."""

from __future__ import annotations

import copy

from migrate_optim.verify.api import VerifyOptions, verify_configs

ADAM = dict(type="Adam", lr=2e-4, betas=(0.9, 0.99))
SPYNET = dict(custom_keys={"spynet": dict(lr_mult=0.125)})
BASICVSR_OLD = dict(
    model=dict(type="BasicVSR", generator=dict(type="BasicVSRNet")),
    optimizers=dict(generator=dict(ADAM, paramwise_cfg=SPYNET)),
    total_iters=300000,
)
# MMagic 1.x configs/basicvsr: one wrapper over the whole model, the same paramwise_cfg
BASICVSR_NEW = dict(
    model=dict(type="BasicVSR", generator=dict(type="BasicVSRNet")),
    optim_wrapper=dict(
        constructor="DefaultOptimWrapperConstructor",
        type="OptimWrapper",
        optimizer=dict(ADAM),
        paramwise_cfg=SPYNET,
    ),
    train_cfg=dict(type="IterBasedTrainLoop", max_iters=300000),
)
TTSR_KEYS = ("generator", "extractor")  # TTSR without its GAN loss
TTSR_OLD = dict(
    model=dict(type="TTSR", generator=dict(type="TTSRNet")),
    optimizers={k: dict(type="Adam", lr=1e-4 if k != "extractor" else 1e-5) for k in TTSR_KEYS},
)
TTSR_NEW = dict(
    model=dict(type="TTSR", generator=dict(type="TTSRNet")),
    optim_wrapper=dict(
        constructor="MultiOptimWrapperConstructor",
        **{
            k: dict(type="OptimWrapper", optimizer=dict(v))
            for k, v in TTSR_OLD["optimizers"].items()
        },
    ),
)
OPTIONS = VerifyOptions(device="cpu", steps=4)


def test_single_generator_restorer_with_paramwise_is_equivalent() -> None:
    report = verify_configs(BASICVSR_OLD, BASICVSR_NEW, OPTIONS)
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]
    assert report.codebase == "mmedit"
    # the probe covers the custom key, so a wrong lr_mult shows
    new = copy.deepcopy(BASICVSR_NEW)
    new["optim_wrapper"]["paramwise_cfg"] = dict(custom_keys={"spynet": dict(lr_mult=0.25)})
    report = verify_configs(BASICVSR_OLD, new, OPTIONS)
    assert report.status == "different"
    assert any("spynet" in " ".join(d.params) + d.message for d in report.differences)


def test_modules_generator_single_wrapper_is_equivalent() -> None:
    new = dict(
        BASICVSR_NEW,
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor",
            modules="generator",
            optimizer=dict(ADAM),
        ),
    )
    old = dict(BASICVSR_OLD, optimizers=dict(generator=dict(ADAM)))
    report = verify_configs(old, new, OPTIONS)
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]


def test_one_entry_wrapper_dict_cannot_train_a_base_edit_model() -> None:
    new = dict(
        BASICVSR_NEW,
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor",
            generator=dict(optimizer=dict(ADAM), paramwise_cfg=SPYNET),
        ),
    )
    report = verify_configs(BASICVSR_OLD, new, OPTIONS)
    assert report.status == "different"
    assert "NotImplementedError" in report.differences[0].message


def test_multi_module_restorer_steps_every_wrapper() -> None:
    report = verify_configs(TTSR_OLD, TTSR_NEW, OPTIONS)
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]
    assert set(report.old.modules) == set(TTSR_KEYS)
    new = copy.deepcopy(TTSR_NEW)
    new["optim_wrapper"]["extractor"]["optimizer"]["lr"] = 1e-4
    report = verify_configs(TTSR_OLD, new, OPTIONS)
    assert report.status == "different"


def test_gan_restorers_are_unsupported() -> None:
    old = dict(BASICVSR_OLD, model=dict(type="ESRGAN", generator=dict(type="RRDBNet")))
    report = verify_configs(old, BASICVSR_NEW, OPTIONS)
    assert report.status == "unsupported" and report.exit_code == 3
    assert "disc_steps" in report.error
    old = copy.deepcopy(TTSR_OLD)
    old["optimizers"]["discriminator"] = dict(type="Adam", lr=1e-4)
    assert verify_configs(old, TTSR_NEW, OPTIONS).status == "unsupported"


def test_ddpm_denoising_optimizer_steps_every_iteration_on_both_sides() -> None:
    adamw = dict(type="AdamW", lr=1e-4, weight_decay=0)
    old = dict(
        model=dict(type="BasicGaussianDiffusion", denoising=dict(type="DenoisingUnet")),
        optimizer=dict(denoising=dict(adamw)),
    )
    new = dict(
        model=dict(type="BasicGaussianDiffusion", denoising=dict(type="DenoisingUnet")),
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor", denoising=dict(optimizer=dict(adamw))
        ),
    )
    report = verify_configs(old, new, OPTIONS, codebase="mmgen")
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]
    assert report.old.steps == {"denoising": [0, 1, 2, 3]}
    wrong = copy.deepcopy(new)
    wrong["optim_wrapper"]["denoising"]["optimizer"]["weight_decay"] = 0.01
    assert verify_configs(old, wrong, OPTIONS, codebase="mmgen").status == "different"
