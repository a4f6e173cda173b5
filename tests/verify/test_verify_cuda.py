"""verify on CUDA (skipped without a CUDA device): fp32 and fp16 AMP pairs, NCCL with 2 GPUs."""

from __future__ import annotations

import pytest
import torch

from migrate_optim.verify.api import VerifyOptions, verify_configs

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SGD = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005)
OLD = dict(optimizer=dict(SGD), optimizer_config=dict(grad_clip=dict(max_norm=1.0)))
NEW = dict(optim_wrapper=dict(optimizer=dict(SGD), clip_grad=dict(max_norm=1.0)))


def test_fp32_pair_on_cuda_is_equivalent():
    report = verify_configs(OLD, NEW, VerifyOptions(device="cuda"))
    assert report.device == "cuda"
    assert report.status == "equivalent", [d.message for d in report.differences]


def test_auto_device_picks_cuda():
    assert verify_configs(OLD, NEW).device == "cuda"


def test_fp16_amp_on_cuda_uses_float16_and_compares_the_loss_scale():
    old = dict(OLD, fp16=dict(loss_scale=512.0))
    new = dict(optim_wrapper=dict(NEW["optim_wrapper"], type="AmpOptimWrapper", loss_scale=512.0))
    report = verify_configs(old, new, VerifyOptions(device="cuda", codebase="mmdet"))
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert report.old.modules[""].amp["dtype"] == "float16"
    wrong = dict(optim_wrapper=dict(new["optim_wrapper"], dtype="bfloat16"))
    report = verify_configs(old, wrong, VerifyOptions(device="cuda", codebase="mmdet"))
    assert any(d.kind == "loss_scale" for d in report.differences)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL with --nproc 2 needs 2 GPUs")
def test_nproc_2_with_nccl():
    old = dict(
        optimizer=dict(SGD),
        optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=2),
    )
    new = dict(optim_wrapper=dict(optimizer=dict(SGD), accumulative_counts=2))
    report = verify_configs(old, new, VerifyOptions(device="cuda", nproc=2))
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]
    assert report.new.allreduce[0] == 0 and report.old.allreduce[0] >= 1
