"""Loading .py configs (0.x and 1.x) with _base_ inheritance, for verify; executes config files.

``load_config(path)`` runs the config file and its ``_base_`` chain, as mmcv's and MMEngine's
``Config.fromfile`` do, and returns a :class:`ConfigDict` (a ``dict`` with attribute access)
equal to ``mmengine.Config.fromfile(path).to_dict()``; see :mod:`migrate_optim.config.loader`.
"""

from migrate_optim.config.configdict import ConfigDict, to_plain
from migrate_optim.config.loader import ConfigError, ConfigKeyError, ConfigTypeError, load_config

__all__ = [
    "ConfigDict",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "load_config",
    "to_plain",
]
