"""``ConfigDict``: the dict type a loaded config is made of (a real ``dict`` with attributes)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any


def _wrap(value: Any) -> Any:
    """Turn plain dicts (also inside plain lists and tuples) into ``ConfigDict``."""
    kind = type(value)
    if kind is dict or kind is OrderedDict:
        return ConfigDict(value)
    if kind is list or kind is tuple:
        return kind(_wrap(item) for item in value)
    return value


def to_plain(value: Any) -> Any:
    """A copy of ``value`` where every dict is a plain ``dict`` (lists/tuples keep their type)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if type(value) is list or type(value) is tuple:
        return type(value)(to_plain(item) for item in value)
    return value


class ConfigDict(dict):
    """A ``dict`` whose keys also read and write as attributes, like MMEngine's ``ConfigDict``.

    It compares equal to a plain dict with the same content, and nested plain dicts assigned
    into it become ``ConfigDict`` too (so ``cfg.model.backbone.depth`` works at any depth).
    ``update`` merges nested dicts key by key, as MMEngine's ``ConfigDict.update`` does: configs
    that call ``_base_.model.update(...)`` rely on it. Missing attributes raise
    ``AttributeError``; ``to_dict()`` returns plain nested dicts.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # Protocol lookups (copy, pickle) must not see config keys.
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Merge another mapping in: dict values merge into dict values, others replace."""
        for key, value in dict(*args, **kwargs).items():
            current = self.get(key)
            if isinstance(current, ConfigDict) and isinstance(value, Mapping):
                current.update(value)
            else:
                self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``dict.setdefault`` that wraps the stored default like any other assignment."""
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> ConfigDict:
        """A shallow copy that stays a ``ConfigDict``."""
        return ConfigDict(self)

    def to_dict(self) -> dict:
        """Plain nested dicts (lists and tuples kept as they are), e.g. for JSON or comparison."""
        return to_plain(self)
