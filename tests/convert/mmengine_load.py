"""Loading configs with MMEngine's ``Config.fromfile`` (test-only), fast enough for sweeps.

``Config.fromfile`` re-reads and re-executes every ``_base_`` file for each config it loads;
a corpus shares its bases widely. Inside :func:`memoised_bases`, ``Config._file2dict`` (the
real function) is memoised per file, so each file is executed once. Results are deep-copied on
every use, and the memo lives only for the ``with`` block: files must not change inside it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

mmengine_config = pytest.importorskip("mmengine.config")
Config = mmengine_config.Config


@contextmanager
def memoised_bases() -> Iterator[None]:
    """Memoise ``Config._file2dict`` per (file, arguments) for the duration of the block."""
    original = Config.__dict__["_file2dict"]
    real = original.__func__
    memo: dict[tuple, tuple] = {}

    def cached(filename: str, *args: Any, **kwargs: Any) -> tuple:
        key = (str(Path(filename).resolve()), args, tuple(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = real(filename, *args, **kwargs)
        return copy.deepcopy(memo[key])

    Config._file2dict = staticmethod(cached)
    try:
        yield
    finally:
        Config._file2dict = original


def load(path: Path) -> dict:
    """The effective config of ``path`` as plain Python (custom imports are not imported)."""
    cfg = Config.fromfile(str(path), import_custom_modules=False, format_python_code=False)
    return cfg.to_dict()
