"""Every config of the corpus loads exactly as MMEngine's own ``Config.fromfile`` loads it.

mmengine-lite is a test-only dependency; MMEngine's ``Config`` also loads 0.x (mmcv) configs.
A config that MMEngine cannot load (a few published ones name a missing base file) must fail
with our ``ConfigError`` for the same reason.
"""

from __future__ import annotations

import warnings

import pytest

from migrate_optim.config import ConfigError, load_config
from tests.corpus import CORPORA, corpus_files, corpus_params

mmengine_config = pytest.importorskip("mmengine.config")


def mmengine_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mmengine_config.Config.fromfile(str(path), import_custom_modules=False).to_dict()


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_params())
def test_config_loads_like_mmengine(path):
    try:
        expected = mmengine_load(path)
    except FileNotFoundError as exc:
        with pytest.raises(ConfigError, match="not found"):
            load_config(path)
        assert exc.filename is not None
        return
    assert load_config(path) == expected


@pytest.mark.corpus
@pytest.mark.parametrize("name", list(CORPORA))
def test_corpus_has_the_published_number_of_configs(name):
    # Counts from shared/corpus/README.md: a truncated fetch or tree must not pass silently.
    expected = {"mmgen-0.7.3": 149, "mmsegmentation-0.30.0": 720, "mmdet-2.28.2": 666}
    assert len(corpus_files(name)) == expected[name]
