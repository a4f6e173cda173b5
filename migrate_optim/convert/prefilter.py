"""The text prefilter of ``convert``: deciding without libcst that a config stays as it is.

A file is rewritten only where it binds a key the rules consume (``core._writes_translated_keys``):
a 0.x key they remove, take as the source of a 1.x key, or mark with a TODO. Every rule
declares those keys (``KEYS``; ``GAN_KEYS`` for keys consumed only where the GAN rules apply,
see :func:`migrate_optim.convert.rules.consumable_keys`). A file that has none of them among
its identifiers (:func:`identifiers`: every name it binds or reads anywhere, a superset of what
the converter's reader sees bound; a ``train_cfg=`` keyword inside ``model`` is not a name)
binds none of them, so its result is "no change"; the only findings it can get are those of an
unreadable ``_base_`` chain, which the converter still computes
(:meth:`~migrate_optim.convert.core.Converter.convert_source`).

``model`` and ``custom_hooks`` are in almost every config but consumed only by the GAN rules:
a file mentioning them is still decided here when its codebase (forced, or named by a folder
of its path) is not a GAN codebase and no string of the file (nor of its bases, checked by the
converter) is a GAN model class.

Everything uncertain goes the full way: text the ``ast`` module rejects, a ``_base_`` that is
not one plain assignment of string literals, a name ``_base_`` used anywhere else.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from migrate_optim import facts
from migrate_optim.convert import codebase as cb
from migrate_optim.convert.rules import consumable_keys
from migrate_optim.convert.rules._gan import CLASSES, GAN_CODEBASES

#: the 0.x keys every conversion must account for (a leftover TODO, or a dynamic binding,
#: touches them even where no rule consumes them)
_ALWAYS_EXTRA = facts.OPTIMIZER_KEYS + facts.SCHEDULE_KEYS


@dataclass(frozen=True)
class Unchanged:
    """A file the prefilter decided: its ``_base_`` specs (spec, line), and whether the GAN
    class check must also pass for every file of its base chain."""

    base_specs: list[tuple[str, int]]
    check_bases_for_gan: bool


def gan_strings(tree: ast.Module) -> bool:
    """Whether a string constant of ``tree`` is a GAN model class the rules know."""
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in CLASSES
        for n in ast.walk(tree)
    )


def decide(source: str, path: Path | None, forced_codebase: str | None) -> Unchanged | None:
    """:class:`Unchanged` if ``source`` cannot change whatever its bases say (given that its
    bases hold no GAN class, when ``check_bases_for_gan``); None: convert it in full."""
    declared = consumable_keys()
    if declared is None:
        return None
    always, gan = declared
    always = always | set(_ALWAYS_EXTRA)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the full conversion reports it
    names = identifiers(tree)
    if names & always:
        return None
    gated = bool(names & gan)
    if gated:
        codebase = forced_codebase or (cb.from_path(path) if path is not None else None)
        if not codebase or codebase in GAN_CODEBASES or gan_strings(tree):
            return None
    specs = _base_specs(tree, names)
    if specs is None:
        return None
    return Unchanged(specs, gated and bool(specs))


def identifiers(tree: ast.Module) -> set[str]:
    """Every name ``tree`` binds or reads anywhere (variables, imports, definitions,
    parameters, patterns, ``global``): a superset of the names the converter's reader
    (:mod:`.static`) can see bound. Keyword arguments and dict keys are not names, so
    ``model = dict(train_cfg=...)`` mentions ``model`` only. ``ast`` gives them NFKC-normalised,
    as Python binds them (more than the reader, which takes them as written)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[0])
            if node.asname:
                names.add(node.asname)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.ExceptHandler)):
            if node.name:
                names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def _base_specs(tree: ast.Module, names: set[str]) -> list[tuple[str, int]] | None:
    """``(spec, line)`` of the one plain ``_base_ = 'x'`` / ``[...]`` statement, [] without
    one, or None when ``_base_`` appears in any other form (the full reader decides those)."""
    if "_base_" not in names:
        return []
    body = tree.body
    found: list[tuple[str, int]] = []
    statement = None
    for i, stmt in enumerate(body):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "_base_"
        ):
            if statement is not None:
                return None
            statement = stmt
            # alone on its lines, as the reader requires of a plain binding
            if i > 0 and (body[i - 1].end_lineno or 0) >= stmt.lineno:
                return None
            if i + 1 < len(body) and body[i + 1].lineno <= (stmt.end_lineno or stmt.lineno):
                return None
            value = stmt.value
            items = value.elts if isinstance(value, ast.List) else [value]
            for item in items:
                if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                    return None
                found.append((item.value, item.lineno))
    if statement is None:
        return None
    # used nowhere else: the reader would make it dynamic or reject it
    uses = sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "_base_"
        or isinstance(node, ast.arg) and node.arg == "_base_"
        or isinstance(node, (ast.alias,)) and "_base_" in (node.name.split(".")[0], node.asname)
        or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name == "_base_"
        or isinstance(node, (ast.Global, ast.Nonlocal)) and "_base_" in node.names
        or isinstance(node, (ast.MatchAs, ast.MatchStar, ast.ExceptHandler))
        and node.name == "_base_"
    )
    return found if uses == 1 else None
