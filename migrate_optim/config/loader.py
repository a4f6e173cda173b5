"""Load ``.py`` OpenMMLab configs (0.x mmcv and 1.x MMEngine formats) without mmcv or mmengine.

Loading EXECUTES the config file and every file it inherits from, as mmcv's and MMEngine's
``Config.fromfile`` do: only load configs you trust.

What is supported, with the upstream semantics (MMEngine 0.10.7 ``Config``; mmcv 1.7 where they
agree):

* ``_base_ = 'x.py'`` or ``_base_ = ['a.py', 'b.py']``, paths relative to the config's folder,
  resolved recursively. The keys of sibling bases must not repeat (``KeyError`` naming both
  files). The child's module-level names are then merged into the bases recursively: dicts merge
  key by key, anything else (lists included) replaces, a child dict with ``_delete_=True``
  replaces the base value, and a child dict over a non-dict base value is a ``TypeError``.
  ``_delete_`` is dropped wherever a child dict meets a base key; like upstream, it is left in
  place in a dict that meets no base key.
* ``{{_base_.a.b}}`` written as a whole value (not inside a string): replaced by the merged
  bases' value, as mmcv and MMEngine do (list items can be reached with digits,
  ``{{_base_.pipeline.0}}``).
* ``_base_.a.b`` as a Python expression (MMEngine): during execution ``_base_`` is the merged
  bases as a :class:`ConfigDict`; the ``_base_ = ...`` line itself is not executed. Mutating
  ``_base_.x`` in place changes the bases the child is merged into, as in MMEngine.
* ``{{ fileDirname }}``, ``{{ fileBasename }}``, ``{{ fileBasenameNoExtension }}``,
  ``{{ fileExtname }}`` and MMEngine's ``{{$ENV_VAR:default}}``, replaced in the text.
* ``_deprecation_`` is removed with a ``DeprecationWarning``.

The result holds the module-level names of the config except names starting with ``__``,
``_base_`` and modules, functions and classes (mmcv and MMEngine drop modules and functions and
keep classes; a class is never a config value a builder could use). Not supported, with a
clear error: ``pkg::path`` bases (they need the package installed), MMEngine's lazy-import
configs (``with read_base():``), and non-``.py`` configs. ``custom_imports`` is kept as a key
and not imported: nothing here builds objects from registries.

Every error is a :class:`ConfigError` whose message starts with ``file:line:`` where a line is
known; merge errors are also ``TypeError`` and duplicate keys ``KeyError``, as upstream.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import types
import warnings
from collections.abc import Mapping
from typing import Any

from migrate_optim.config.configdict import ConfigDict

__all__ = ["ConfigError", "ConfigKeyError", "ConfigTypeError", "load_config"]

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
DEPRECATION_KEY = "_deprecation_"

# Placeholders for ``{{_base_.x}}``: NUL characters cannot occur in a config's own strings by
# accident, so a leftover is always ours. Written with escapes: the source text stays NUL-free.
_MARK = "\x00migrate_optim_base_var_"
_MARK_SOURCE = "\\x00migrate_optim_base_var_"
_PLACEHOLDER_RE = re.compile(r"\x00migrate_optim_base_var_(\d+)\x00")
_BASE_VAR_RE = re.compile(r"\{\{\s*_base_\.([\w.]+)\s*\}\}")
_ENV_RE = re.compile(r"\{\{['\"]?\s*\$(\w+)\s*:\s*(\S*?)\s*['\"]?\}\}")
_DROPPED_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    type,
)


class ConfigError(Exception):
    """A config could not be loaded; the message starts with ``file:line:`` where known."""

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, line: int | None = None
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        if self.path and line:
            message = f"{self.path}:{line}: {message}"
        elif self.path:
            message = f"{self.path}: {message}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigTypeError(ConfigError, TypeError):
    """A child dict was merged into a base value that is not a dict (``_delete_`` missing)."""


class ConfigKeyError(ConfigError, KeyError):
    """Two sibling bases define the same key, or ``{{_base_.x}}`` names a missing key."""


def load_config(path: str | os.PathLike) -> ConfigDict:
    """Load a ``.py`` config with its ``_base_`` chain into a :class:`ConfigDict`.

    This EXECUTES the file and its bases (as mmcv's and MMEngine's ``Config.fromfile`` do).
    The result equals ``mmengine.Config.fromfile(path).to_dict()`` for 0.x and 1.x configs;
    nested values are private copies (no two keys share a mutable object).
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(filename):
        raise ConfigError("no such config file", filename)
    cfg = _load_file(filename, ())
    try:
        return copy.deepcopy(cfg)
    except Exception:  # an exotic value that cannot be copied: hand it back shared
        return cfg


# ---------------------------------------------------------------------------------------------
# one file


class _Source:
    """The text of one config after substitutions, its AST, and where things are in it."""

    def __init__(self, filename: str):
        self.filename = filename
        try:
            with open(filename, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config: {exc}", filename) from exc
        if not filename.endswith(".py"):
            raise ConfigError("only .py configs are supported", filename)
        text = _substitute_predefined(text, filename)
        text = _substitute_env(text, filename)
        self.base_vars: list[tuple[str, int]] = []  # placeholder index -> (dotted path, line)
        self.text = _BASE_VAR_RE.sub(self._placeholder, text)
        try:
            self.tree = ast.parse(self.text, filename=filename)
        except SyntaxError as exc:
            raise ConfigError(f"syntax error: {exc.msg}", filename, exc.lineno) from exc
        self.key_lines = _top_level_lines(self.tree)

    def _placeholder(self, match: re.Match[str]) -> str:
        line = match.string.count("\n", 0, match.start()) + 1
        self.base_vars.append((match.group(1), line))
        return f'"{_MARK_SOURCE}{len(self.base_vars) - 1}\\x00"'

    def line_of(self, key: str) -> int | None:
        """Line of the last top-level assignment of ``key`` in this file, if any."""
        return self.key_lines.get(key)


def _substitute_predefined(text: str, filename: str) -> str:
    """Replace ``{{ fileDirname }}`` and friends with the config's own path parts."""
    dirname, basename = os.path.split(filename)
    values = {
        "fileDirname": dirname,
        "fileBasename": basename,
        "fileBasenameNoExtension": os.path.splitext(basename)[0],
        "fileExtname": os.path.splitext(filename)[1],
    }
    for key, value in values.items():
        value = value.replace("\\", "/")
        text = re.sub(r"\{\{\s*" + key + r"\s*\}\}", lambda _m, v=value: v, text)
    return text


def _substitute_env(text: str, filename: str) -> str:
    """Replace MMEngine's ``{{$NAME:default}}`` with the environment value or the default."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if not value:
            line = match.string.count("\n", 0, match.start()) + 1
            raise ConfigError(
                f"environment variable {name} is not set and has no default", filename, line
            )
        return value

    return _ENV_RE.sub(replace, text)


def _top_level_lines(tree: ast.Module) -> dict[str, int]:
    """Map each name assigned at module level to the line of its last assignment."""
    lines: dict[str, int] = {}

    def names(target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, (ast.Tuple, ast.List)):
            return [n for elt in target.elts for n in names(elt)]
        return []

    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for name in names(target):
                lines[name] = node.lineno
    return lines


def _is_base_assign(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets)
    return (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and (node.target.id == BASE_KEY)
    )


def _check_not_lazy(src: _Source) -> None:
    for node in ast.walk(src.tree):
        if isinstance(node, ast.With):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and getattr(expr.func, "id", None) == "read_base":
                    raise ConfigError(
                        "MMEngine lazy-import configs (`with read_base():`) are not supported; "
                        "use `_base_ = [...]`",
                        src.filename,
                        node.lineno,
                    )


def _base_files(src: _Source) -> tuple[list[str], int | None]:
    """The ``_base_`` entries of a config (evaluated from its first ``_base_ =``) and its line."""
    node = next((n for n in src.tree.body if _is_base_assign(n)), None)
    if node is None or node.value is None:
        return [], None
    try:
        code = compile(ast.Expression(body=node.value), src.filename, "eval")
        value = eval(code, {})  # noqa: S307 - the whole file is executed anyway
    except Exception as exc:
        raise ConfigError(
            f"cannot evaluate _base_ on its own (it must be a string or a list of strings): {exc}",
            src.filename,
            node.lineno,
        ) from exc
    entries = list(value) if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(
            f"_base_ must be a string or a list of strings, got {value!r}",
            src.filename,
            node.lineno,
        )
    return entries, node.lineno


def _load_file(filename: str, stack: tuple[str, ...]) -> ConfigDict:
    """Load one config and its bases; ``stack`` is the chain of files including it."""
    if filename in stack:
        chain = " -> ".join([*stack, filename])
        raise ConfigError(f"_base_ cycle: {chain}", stack[-1])
    src = _Source(filename)
    _check_not_lazy(src)
    bases = _merged_bases(src, (*stack, filename))

    body = [node for node in src.tree.body if not _is_base_assign(node)]
    code = compile(ast.Module(body=body, type_ignores=[]), filename, "exec")
    namespace: dict[str, Any] = {
        BASE_KEY: bases,
        "__name__": "migrate_optim_config",
        "__file__": filename,
    }
    try:
        exec(code, namespace)  # noqa: S102 - executing the config is what loading means
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{type(exc).__name__} while executing the config: {exc}",
            filename,
            _error_line(exc, filename),
        ) from exc

    own = {
        key: value
        for key, value in namespace.items()
        if key != BASE_KEY and not key.startswith("__") and not isinstance(value, _DROPPED_TYPES)
    }
    if DEPRECATION_KEY in own:
        info = own.pop(DEPRECATION_KEY)
        message = f"The config file {filename} will be deprecated in the future."
        if isinstance(info, Mapping):
            if "expected" in info:
                message += f" Please use {info['expected']} instead."
            if "reference" in info:
                message += f" More information can be found at {info['reference']}"
        warnings.warn(message, DeprecationWarning, stacklevel=2)

    if src.base_vars:
        own = {key: _substitute_base_vars(value, bases, src, key) for key, value in own.items()}
    return _merge_into(own, bases, src, ())


def _merged_bases(src: _Source, stack: tuple[str, ...]) -> ConfigDict:
    """Load every base of ``src`` and merge them, refusing keys defined by two bases."""
    entries, line = _base_files(src)
    merged = ConfigDict()
    origin: dict[str, str] = {}
    folder = os.path.dirname(src.filename)
    for entry in entries:
        if "::" in entry:
            raise ConfigError(
                f"base {entry!r} is in another package; `pkg::path` bases are not supported",
                src.filename,
                line,
            )
        base_path = os.path.abspath(os.path.join(folder, os.path.expanduser(entry)))
        if not os.path.isfile(base_path):
            raise ConfigError(f"base config {entry!r} not found ({base_path})", src.filename, line)
        try:
            base = _load_file(base_path, stack)
        except ConfigError as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"  inherited by {src.filename}:{line}")
            raise
        duplicates = sorted(set(merged) & set(base), key=str)
        if duplicates:
            others = sorted({origin[key] for key in duplicates})
            raise ConfigKeyError(
                f"duplicate key(s) among bases: {duplicates} defined in {base_path} "
                f"and in {', '.join(others)}",
                src.filename,
                line,
            )
        for key, value in base.items():
            merged[key] = value
            origin[key] = base_path
    return merged


def _error_line(exc: BaseException, filename: str) -> int | None:
    """The line of ``filename`` deepest in the traceback of ``exc`` (or its syntax error)."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------------------------------
# {{_base_.x}}


def _substitute_base_vars(value: Any, bases: Mapping, src: _Source, key: str) -> Any:
    """Replace every whole-value ``{{_base_.x}}`` placeholder inside ``value``."""
    if isinstance(value, str):
        match = _PLACEHOLDER_RE.fullmatch(value)
        if match is not None:
            return copy.deepcopy(_lookup_base_var(bases, src, int(match.group(1))))
        partial = _PLACEHOLDER_RE.search(value)
        if partial is not None:
            dotted, line = src.base_vars[int(partial.group(1))]
            raise ConfigError(
                f"{{{{_base_.{dotted}}}}} must stand alone as a value, not inside a string or "
                f"expression (use the Python form `_base_.{dotted}` for expressions)",
                src.filename,
                line,
            )
        return value
    if isinstance(value, dict):
        out = type(value)() if type(value) in (dict, ConfigDict) else {}
        for k, v in value.items():
            out[k] = _substitute_base_vars(v, bases, src, key)
        return out
    if type(value) in (list, tuple):
        return type(value)(_substitute_base_vars(v, bases, src, key) for v in value)
    return value


def _lookup_base_var(bases: Mapping, src: _Source, index: int) -> Any:
    dotted, line = src.base_vars[index]
    current: Any = bases
    walked: list[str] = []
    for part in dotted.split("."):
        walked.append(part)
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, (list, tuple)) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ConfigKeyError(
                f"{{{{_base_.{dotted}}}}}: the bases have no _base_.{'.'.join(walked)}",
                src.filename,
                line,
            )
    return current


# ---------------------------------------------------------------------------------------------
# merging


def _merge_into(child: Mapping, base: Mapping, src: _Source, where: tuple[str, ...]) -> ConfigDict:
    """Merge ``child`` into a shallow copy of ``base`` (mmcv/MMEngine ``_merge_a_into_b``)."""
    out = ConfigDict(base)
    for key, value in child.items():
        if isinstance(value, dict):
            if key in out:
                replace = bool(value.get(DELETE_KEY, False))
                value = {k: v for k, v in value.items() if k != DELETE_KEY}
                if not replace:
                    if not isinstance(out[key], dict):
                        dotted = ".".join(str(part) for part in (*where, key))
                        raise ConfigTypeError(
                            f"{dotted} is a dict in the child config but a "
                            f"{type(out[key]).__name__} in its base "
                            f"({out[key]!r}); set `{DELETE_KEY}=True` to replace the base value",
                            src.filename,
                            src.line_of(str(where[0] if where else key)),
                        )
                    out[key] = _merge_into(value, out[key], src, (*where, key))
                    continue
            out[key] = ConfigDict(value)
        else:
            out[key] = value
    return out
