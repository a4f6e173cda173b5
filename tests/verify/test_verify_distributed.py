"""`verify --nproc 2`: both trainings under torch.distributed (gloo) + DDP, all-reduces counted."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migrate_optim.cli import main
from migrate_optim.verify.distributed import distributed_available

pytestmark = pytest.mark.skipif(
    not distributed_available("cpu"), reason="torch.distributed with gloo is not available"
)


def test_nproc_2_shows_that_accumulation_skips_the_allreduce(tmp_path):
    old = tmp_path / "old.py"
    old.write_text(
        "optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)\n"
        "optimizer_config = dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4)\n"
    )
    new = tmp_path / "new.py"
    new.write_text(
        "optim_wrapper = dict(type='OptimWrapper', accumulative_counts=4,\n"
        "    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005))\n"
    )
    result = CliRunner().invoke(
        main,
        ["verify", "--nproc", "2", "--device", "cpu", "--json", str(old), str(new)],
        catch_exceptions=False,
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 0, data["error"] or data["differences"]
    assert data["nproc"] == 2 and data["steps"] == 10
    old_counts = data["old"]["allreduce"]
    new_counts = data["new"]["allreduce"]
    buckets = old_counts[0]
    assert buckets >= 1
    # mmcv's cumulative hook has no no_sync: DDP all-reduces after every backward.
    assert old_counts == [buckets] * 10
    # optim_context enters no_sync except on the iterations that update (3, 7 and the tail 9).
    assert new_counts == [0, 0, 0, buckets, 0, 0, 0, buckets, 0, buckets]
    assert data["old"]["steps"][""] == data["new"]["steps"][""] == [3, 7, 9]
    assert any(n["key"] == "allreduce" for n in data["notes"])
