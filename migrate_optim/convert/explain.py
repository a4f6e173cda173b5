"""Per-file decisions for ``convert -v``: which codebase a config was read as, and why; what
was rewritten.

Read-only and best-effort: it repeats the codebase detection of :mod:`.codebase` step by step
to say which clue decided, and compares the top-level names of the text before and after to
say which keys were rewritten. It never changes what the converter does.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrate_optim.convert import codebase as cb
from migrate_optim.convert.findings import ConvertError, Finding
from migrate_optim.convert.static import merge_into, own_config, parse_config


def decisions(
    converter: Any,
    before: str,
    after: str,
    path: Path | None,
    forced: str | None,
    findings: Sequence[Finding] = (),
) -> list[str]:
    """Human-readable lines: the codebase and how it was found, the keys rewritten, the rules
    that reported something."""
    out = [f"codebase: {codebase_reason(converter, before, path, forced)}"]
    if not before.strip():
        out.append("empty file: left unchanged")
        return out
    old, new = _top_level_names(before), _top_level_names(after)
    removed = [k for k in old if k not in new]
    added = [k for k in new if k not in old]
    if before == after:
        out.append("unchanged: nothing of its own to rewrite")
    elif removed or added:
        out.append(
            f"rewrote {', '.join(removed) or '(nothing removed)'} -> "
            f"{', '.join(added) or '(overrides in place)'}"
        )
    else:
        out.append("rewrote values in place")
    ids = sorted({f.rule_id for f in findings})
    if ids:
        out.append(f"rules reporting: {', '.join(ids)}")
    return out


def codebase_reason(converter: Any, source: str, path: Path | None, forced: str | None) -> str:
    """``NAME (from CLUE)`` for the codebase the conversion used, or why there is none."""
    if forced:
        return f"{forced} (forced by --codebase)"
    eff = _effective(converter, source, path)
    # The order of codebase.detect: path, top-level keys, model type, imports, repository.
    clues: list[tuple[Any, str]] = []
    if path is not None:
        clues.append((lambda: cb.from_path(path), "the path"))
    if eff is not None:
        clues += [
            (lambda: cb.from_structure(eff), "its top-level keys"),
            (lambda: cb.from_model(eff), f"the model type {cb.model_type(eff)}"),
            (lambda: cb.from_imports(eff), "custom_imports"),
        ]
    if path is not None:
        clues.append((lambda: cb.from_repository(path), "the repository the file lies in"))
    for detect, clue in clues:
        found = detect()
        if found:
            return f"{found} (from {clue})"
    run_codebase = getattr(converter, "run_codebase", None)
    assumed = run_codebase() if callable(run_codebase) else None
    if assumed:
        return f"{assumed} (assumed: the codebase of the run's other configs)"
    return "unknown (nothing in the file, its bases or its path tells; see --codebase)"


def _effective(converter: Any, source: str, path: Path | None) -> Any:
    tree = getattr(converter, "tree", None)
    try:
        cm = parse_config(source, path)
        base = tree.base_config(cm) if tree is not None and path is not None else None
    except (ConvertError, OSError, ValueError, RecursionError):
        return None
    except Exception:  # noqa: BLE001 - an unreadable base chain: judge the file alone
        base = None
    own = own_config(cm)
    return merge_into(own, base) if base is not None else own


def _top_level_names(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id not in names:
                names.append(target.id)
    return names
