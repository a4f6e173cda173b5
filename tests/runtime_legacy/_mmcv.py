"""Test-only access to the real mmcv 1.7.2 (skips when it is not installed).

mmcv 1.7.2's ``mmcv.runner`` imports ``torchvision`` at module level (only used for model-zoo
URLs). When torchvision is absent, an empty stand-in is put in ``sys.modules`` just for the
import and removed afterwards, so that nothing else in the test session sees it.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings

import pytest


def mmcv_runner() -> types.ModuleType:
    """Return ``mmcv.runner`` of mmcv 1.x, or skip the calling test."""
    mmcv = pytest.importorskip('mmcv', exc_type=ImportError)

    if not mmcv.__version__.startswith('1.'):
        pytest.skip(f'needs mmcv 1.x, found {mmcv.__version__}')
    if 'mmcv.runner' in sys.modules:
        return sys.modules['mmcv.runner']
    stubbed = importlib.util.find_spec('torchvision') is None
    if stubbed:
        sys.modules['torchvision'] = types.ModuleType('torchvision')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import mmcv.runner as runner
    except ImportError as exc:  # an mmcv that does not import with this torch
        pytest.skip(f'mmcv.runner is not importable: {exc}')
    finally:
        if stubbed:
            sys.modules.pop('torchvision', None)
    return runner
