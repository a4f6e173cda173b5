"""The BigGAN-128 example of MMGeneration's optimizer migration doc, converted whole (all GAN
rules together): the 1.x semantics the doc gives, and the exact converted text.

Trees are converted whole and checked as MMEngine loads them (``convert_gan_tree``,
``load_1x``); expected values come from the spec, never from the converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.convert.helpers import (
    GAN_FIXTURES,
    convert_gan_tree,
    finding_ids,
    load_1x,
)

mmengine = pytest.importorskip("mmengine")
from mmengine import Config  # noqa: E402


def test_biggan128_doc_example_semantics(tmp_path: Path) -> None:
    src = (GAN_FIXTURES / "biggan128_0x.py").read_text()
    res = convert_gan_tree(tmp_path, {"biggan.py": src})["biggan.py"]
    got = load_1x(tmp_path, "biggan.py")
    doc = Config.fromfile(str(GAN_FIXTURES / "biggan128_1x_doc.py")).to_dict()
    assert got["optim_wrapper"] == doc["optim_wrapper"]
    assert got["optim_wrapper"]["generator"]["optimizer"]["lr"] == 0.0001  # not the typo 2e-4
    for key in ("generator_steps", "discriminator_steps"):
        assert got["model"][key] == doc["model"][key]
    assert "train_cfg" not in got and "optimizer" not in got
    assert finding_ids(res, "error") == []


def test_biggan128_doc_example_text(tmp_path: Path) -> None:
    src = (GAN_FIXTURES / "biggan128_0x.py").read_text()
    res = convert_gan_tree(tmp_path, {"biggan.py": src})["biggan.py"]
    assert res.source == (GAN_FIXTURES / "biggan128_converted.py").read_text()
