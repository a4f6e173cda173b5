"""Argument checks that raise the same exception types as MMEngine's ``assert`` statements."""

from __future__ import annotations


def require(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds.

    MMEngine validates many arguments with ``assert``; callers may catch ``AssertionError``, so
    we raise that type, but explicitly, so the checks survive ``python -O``.
    """
    if not condition:
        raise AssertionError(message)
