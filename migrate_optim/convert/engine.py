"""The file side of ``migrate-optim convert``: inputs, bytes, modes, atomic writes, the run report.

The rewriting itself lives in :mod:`migrate_optim.convert.core`; this module decides which files
are converted, turns their bytes into text and back (byte-exact for anything the rules leave
alone), and writes the results. A run has two phases: every input is read and converted in
memory first, and only then is anything written, because a child config's ``_base_`` files must
be read in their original 0.x form while the child is converted.

Decisions (see :func:`run` for the modes):

* Inputs: a file named on the command line is converted whatever its suffix; a directory is
  walked recursively for ``*.py`` in sorted order, skipping hidden entries (names starting with
  ``.``) and ``__pycache__``, and not descending into symlinked directories (no cycles); ``-``
  reads stdin and writes the result to stdout (nothing on stdout if it cannot be converted).
* Bad input is reported as one ``file:line: error: cause`` line and never written; the other
  files of the run are still converted. Causes that concern the whole file (missing, empty,
  unreadable, ...) are reported at line 1. A 0-byte file (or one holding only a UTF-8 BOM) is
  left unchanged, as black and ruff do (an empty ``__init__.py`` in a config tree is common).
* Excludes: gitignore-style patterns (``pathspec``), matched against each walked file's path
  relative to the directory given on the command line; a file named on the command line is
  excluded only with ``force_exclude`` (then matched against its path as given). The defaults
  (``.*`` and ``__pycache__``) skip hidden entries; ``exclude`` replaces them,
  ``extend_exclude`` adds to them.
* Text: only UTF-8 (with or without a BOM). A file that uses a single newline style is handed to
  the converter with ``\\n`` newlines and written back in its own style; a file that mixes styles
  is handed over as it is, so no line the rules leave alone changes.
* ``out_dir``: the mirror is rooted at the deepest directory holding every input and every
  ``_base_`` file they reference (read statically, recursively). Every converted file is written
  there; every unchanged input, every non-``.py`` file of a walked directory and every referenced
  ``_base_`` file outside the inputs is copied byte for byte (and keeps its mode), so relative
  ``_base_`` paths resolve inside the mirror. Inputs that could not be handled are not copied.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import difflib
import enum
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import pathspec

from migrate_optim.convert.core import Converter, ConvertOptions, ConvertResult
from migrate_optim.convert.findings import (
    STDIN_NAME,
    ConvertError,
    Finding,
    FindingFilter,
    display_path,
)
from migrate_optim.convert.workers import run_parallel

STDIN = "-"
"""The command-line name of standard input."""


class Mode(str, enum.Enum):
    """What a run does with the converted text."""

    IN_PLACE = "in-place"
    OUT_DIR = "out-dir"
    DIFF = "diff"
    CHECK = "check"


class Status(str, enum.Enum):
    """The outcome for one input file."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


class ExitCode(enum.IntEnum):
    """Process exit codes, shared by ``convert``, ``convert --verify`` and ``verify``.

    Precedence when several apply: FAILED, then CHANGES, then NOT_VERIFIED, then OK.
    """

    OK = 0
    #: changes needed (--check, --diff), findings at --fail-on or worse, a pair that differs
    CHANGES = 1
    #: bad input, bad options, a crash: something could not be handled at all
    FAILED = 2
    #: the input is fine but could not be verified (family or feature the runtime lacks)
    NOT_VERIFIED = 3


def combine_exit_codes(*codes: int) -> int:
    """The exit code of a run whose parts ended with ``codes`` (see :class:`ExitCode`)."""
    for code in (ExitCode.FAILED, ExitCode.CHANGES, ExitCode.NOT_VERIFIED):
        if code in codes:
            return int(code)
    return int(ExitCode.OK)


_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


class SourceConverter(Protocol):
    """What the engine needs from a converter (:class:`~migrate_optim.convert.core.Converter`)."""

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        """Convert one config's text, or raise ConvertError."""
        ...


@dataclass
class EngineOptions:
    """How a run treats its inputs: the mode, the mirror directory, the forced codebase, and
    which findings it reports (``--select/--ignore``; the converted text does not depend on
    it)."""

    mode: Mode = Mode.IN_PLACE
    out_dir: Path | None = None
    codebase: str | None = None
    findings: FindingFilter = field(default_factory=FindingFilter)
    #: gitignore-style patterns; None keeps :data:`DEFAULT_EXCLUDE`
    exclude: Sequence[str] | None = None
    extend_exclude: Sequence[str] = ()
    #: apply the excludes to files named on the command line too (pre-commit passes names)
    force_exclude: bool = False
    #: the path stdin stands for: its ``_base_`` files, codebase and name in messages
    stdin_filename: Path | None = None
    #: record per-file decisions (codebase and how it was found, rules applied) for ``-v``
    explain: bool = False
    #: ``warning`` or ``error``: exit 1 while findings of that severity or worse remain
    fail_on: str | None = None
    #: worker processes converting the files (1: this process only); the result is the same.
    #: Workers are forked copies: what a custom converter records there stays there.
    jobs: int = 1

    def exclude_spec(self) -> pathspec.PathSpec:
        """The compiled exclude patterns of this run."""
        patterns = list(DEFAULT_EXCLUDE if self.exclude is None else self.exclude)
        return pathspec.GitIgnoreSpec.from_lines([*patterns, *self.extend_exclude])


#: what a directory walk skips unless ``--exclude`` replaces it: hidden entries, byte caches
DEFAULT_EXCLUDE = (".*", "__pycache__/")


class RunObserver:
    """Hears about a run as it goes (the CLI's progress bar and streamed findings).

    The engine calls :meth:`started` once the inputs are known and :meth:`converted` after each
    input is converted in memory (before anything is written). The base class does nothing.
    """

    def started(self, total: int) -> None:
        """``total`` inputs are about to be converted."""

    def converted(self, name: str, findings: Sequence[Finding], error: ConvertError | None) -> None:
        """One input was converted (``error`` set when it could not be)."""


@dataclass(frozen=True)
class InputFile:
    """One input: a path as given (or found under ``root``), or standard input.

    ``problem`` is set when discovery already knows the input cannot be read (a directory of
    the walk that cannot be listed).
    """

    path: Path
    root: Path | None = None
    stdin: bool = False
    problem: str | None = None
    #: for stdin: the file it stands for (``--stdin-filename``)
    stands_for: Path | None = None

    @property
    def display(self) -> str:
        """The name used in messages."""
        if self.stdin:
            return display_path(self.stands_for) if self.stands_for else STDIN_NAME
        return display_path(self.path)


@dataclass
class SourceText:
    """A decoded file: the text the converter sees, and what is needed to encode it back.

    ``newline`` is the file's single newline style (the text then uses ``\\n``), or None when
    the file mixes styles (the text is then exactly as read).
    """

    text: str
    raw: bytes
    bom: bool = False
    newline: str | None = "\n"
    stat: os.stat_result | None = None

    def restore(self, text: str) -> str:
        """``text`` (in the converter's newlines) in the file's own newline style."""
        if self.newline is None or self.newline == "\n":
            return text
        return text.replace("\n", self.newline)

    def encode(self, text: str) -> bytes:
        """The bytes of ``text`` as this file stores it (newline style, BOM)."""
        data = self.restore(text).encode("utf-8")
        return codecs.BOM_UTF8 + data if self.bom else data


@dataclass
class FileReport:
    """What happened to one input file."""

    path: str
    status: Status
    findings: list[Finding] = field(default_factory=list)
    error: ConvertError | None = None
    diff: str | None = None
    written: str | None = None
    #: the original and converted text (for reports); not part of the JSON
    before: str | None = None
    after: str | None = None
    #: what was decided for this file and why (``-v``)
    decisions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable form."""
        out: dict[str, object] = {
            "path": self.path,
            "status": self.status.value,
            "written": self.written,
            "error": _error_dict(self.error) if self.error else None,
            "findings": [f.to_dict() for f in self.findings],
            "decisions": list(self.decisions),
        }
        if self.diff is not None:
            out["diff"] = self.diff
        return out


@dataclass
class RunReport:
    """The outcome of a run: one :class:`FileReport` per input, in input order.

    ``copied`` lists the extra files an ``out_dir`` run copied (non-``.py`` files, referenced
    ``_base_`` files), ``copy_errors`` those it could not copy. ``stdout`` holds what the run
    writes to standard output for ``-`` in in-place and out-dir modes.
    """

    mode: Mode
    files: list[FileReport] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    copy_errors: list[ConvertError] = field(default_factory=list)
    stdout: bytes | None = None
    #: ``warning`` or ``error``: findings of that severity or worse make the run exit 1
    fail_on: str | None = None

    def count(self, status: Status) -> int:
        """How many inputs ended with ``status``."""
        return sum(1 for f in self.files if f.status is status)

    @property
    def errors(self) -> list[ConvertError]:
        """Every bad-input error of the run, inputs first, then copies."""
        return [f.error for f in self.files if f.error is not None] + self.copy_errors

    @property
    def findings(self) -> list[Finding]:
        """Every finding of the run, once each, in input order."""
        seen: set[tuple[object, ...]] = set()
        out = []
        for report in self.files:
            for f in report.findings:
                key = (f.path, f.line, f.rule_id, f.severity, f.message)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
        return out

    @property
    def summary(self) -> dict[str, int]:
        """Counts: scanned (= changed + unchanged + failed), changed, unchanged, with findings,
        failed."""
        return {
            "scanned": len(self.files),
            "changed": self.count(Status.CHANGED),
            "unchanged": self.count(Status.UNCHANGED),
            "with_findings": sum(1 for f in self.files if f.findings),
            "failed": self.count(Status.FAILED),
        }

    @property
    def failing_findings(self) -> list[Finding]:
        """The findings at ``fail_on`` severity or worse (none without ``fail_on``)."""
        if self.fail_on is None:
            return []
        least = _SEVERITY_RANK[self.fail_on]
        return [f for f in self.findings if _SEVERITY_RANK[f.severity.value] >= least]

    @property
    def exit_code(self) -> ExitCode:
        """2 if any input could not be handled, else 1 if check/diff found changes or findings
        reach ``fail_on``, else 0."""
        if self.errors:
            return ExitCode.FAILED
        if self.mode in (Mode.CHECK, Mode.DIFF) and self.count(Status.CHANGED):
            return ExitCode.CHANGES
        if self.failing_findings:
            return ExitCode.CHANGES
        return ExitCode.OK

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable form (``--json``)."""
        return {
            "version": 1,
            "mode": self.mode.value,
            "exit_code": int(self.exit_code),
            "summary": self.summary,
            "files": [f.to_dict() for f in self.files],
            "copied": list(self.copied),
            "copy_errors": [_error_dict(e) for e in self.copy_errors],
            "findings": [f.to_dict() for f in self.findings],
        }


def _error_dict(error: ConvertError) -> dict[str, object]:
    return {
        "path": error.path,
        "line": error.line,
        "cause": error.cause,
        "message": error.format(),
    }


def summary_text(report: RunReport) -> str:
    """The one-line human summary of a run."""
    s = report.summary
    changed = "would change" if report.mode in (Mode.CHECK, Mode.DIFF) else "changed"
    noun = "file" if s["scanned"] == 1 else "files"
    text = (
        f"{s['scanned']} {noun} scanned: {s['changed']} {changed}, {s['unchanged']} unchanged, "
        f"{s['with_findings']} with findings, {s['failed']} failed"
    )
    if report.copied:
        other = "file" if len(report.copied) == 1 else "files"
        text += f"; {len(report.copied)} other {other} copied"
    if report.copy_errors:
        text += f"; {len(report.copy_errors)} could not be copied"
    return text


# --------------------------------------------------------------------------- discovery


_DEFAULT_SPEC = pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDE)


def _rel(path: str, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def walk(
    root: Path, exclude: Path | None = None, spec: pathspec.PathSpec | None = None
) -> tuple[list[Path], list[Path], list[tuple[Path, OSError]]]:
    """The ``*.py`` files under ``root``, its other files, and the directories that could not
    be listed (with why), each sorted.

    Skips what ``spec`` matches (default: hidden entries and ``__pycache__``; paths relative to
    ``root``, directories with a trailing ``/``), does not descend into symlinked directories,
    and skips ``exclude`` (the out-dir, when it lies inside an input tree).
    """
    spec = _DEFAULT_SPEC if spec is None else spec
    excluded = os.path.realpath(exclude) if exclude is not None else None
    py_files: list[Path] = []
    others: list[Path] = []
    unlisted: list[tuple[Path, OSError]] = []

    def onerror(exc: OSError) -> None:
        # os.walk would skip an unreadable directory without a word.
        unlisted.append((Path(exc.filename), exc))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not spec.match_file(_rel(os.path.join(dirpath, d), root) + "/")
            and (excluded is None or os.path.realpath(os.path.join(dirpath, d)) != excluded)
        )
        for name in filenames:
            if spec.match_file(_rel(os.path.join(dirpath, name), root)):
                continue
            (py_files if name.endswith(".py") else others).append(Path(dirpath, name))
    return sorted(py_files), sorted(others), sorted(unlisted, key=lambda item: item[0])


def discover(
    paths: Sequence[str],
    exclude: Path | None = None,
    options: EngineOptions | None = None,
) -> tuple[list[InputFile], list[tuple[Path, Path]]]:
    """The inputs named by ``paths``, once each, in order; plus ``(file, root)`` for the
    non-``.py`` files of walked directories.

    Anything that is not a directory becomes an input even if it does not exist: reading it
    reports why it cannot be converted. ``options`` gives the excludes and the stdin filename.
    """
    options = options or EngineOptions()
    spec = options.exclude_spec()
    inputs: list[InputFile] = []
    others: list[tuple[Path, Path]] = []
    seen: set[str] = set()

    def add(item: InputFile) -> None:
        key = STDIN if item.stdin else os.path.abspath(item.path)
        if key not in seen:
            seen.add(key)
            inputs.append(item)

    for arg in paths:
        if arg == STDIN:
            add(InputFile(Path(STDIN), stdin=True, stands_for=options.stdin_filename))
            continue
        path = Path(arg)
        if path.is_dir():
            py_files, other_files, unlisted = walk(path, exclude, spec)
            found = [InputFile(f, root=path) for f in py_files]
            found += [
                InputFile(d, root=path, problem=f"cannot list directory: {_os_cause(exc)}")
                for d, exc in unlisted
            ]
            for item in sorted(found, key=lambda item: item.path):
                add(item)
            others.extend((f, path) for f in other_files)
        elif options.force_exclude and spec.match_file(Path(os.path.normpath(arg)).as_posix()):
            continue
        else:
            add(InputFile(path))
    return inputs, others


# --------------------------------------------------------------------------- bytes -> text

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, byte column) of ``offset``, counting line breaks as Python does."""
    line, start = 1, 0
    for m in _LINE_BREAK.finditer(data, 0, offset):
        line, start = line + 1, m.end()
    return line, offset - start + 1


def _declared_encoding(data: bytes) -> str | None:
    for line in data.splitlines()[:2]:
        m = _CODING.match(line)
        if m:
            return m.group(1).decode("ascii", "replace")
    return None


def _newline_style(text: str) -> str | None:
    crlf = text.count("\r\n")
    styles = [
        style
        for style, n in (
            ("\r\n", crlf),
            ("\r", text.count("\r") - crlf),
            ("\n", text.count("\n") - crlf),
        )
        if n
    ]
    if not styles:
        return "\n"
    return styles[0] if len(styles) == 1 else None


def decode_source(data: bytes, name: str) -> SourceText:
    """Decode a config's bytes, or raise :class:`ConvertError` naming ``name``.

    Rejects UTF-16/32, binary data (NUL bytes) and invalid UTF-8, each at the line where the
    problem is. Empty input (or only a BOM) decodes to empty text, which is left unchanged.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) and len(data) % 4 == 0:
        raise ConvertError(name, 1, "UTF-32 encoded (byte order mark); only UTF-8 is supported")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConvertError(name, 1, "UTF-16 encoded (byte order mark); only UTF-8 is supported")
    nul = data.find(b"\0")
    if nul >= 0:
        line, col = _position(data, nul)
        raise ConvertError(name, line, f"binary file: NUL byte at column {col}")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if bom else 0)
        line, col = _position(data, offset)
        cause = f"not valid UTF-8: byte 0x{data[offset]:02x} at column {col}"
        declared = _declared_encoding(data)
        if declared and declared.lower().replace("_", "-") not in ("utf-8", "utf8"):
            cause += f" (the file declares coding {declared}; only UTF-8 is supported)"
        raise ConvertError(name, line, cause) from None
    newline = _newline_style(text)
    if newline not in (None, "\n"):
        text = text.replace(newline, "\n")
    return SourceText(text=text, raw=data, bom=bom, newline=newline)


def _read_bytes(path: Path) -> bytes:
    # A seam for tests that must simulate unreadable files while running as root.
    with open(path, "rb") as f:
        return f.read()


def _os_cause(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


def read_source(path: Path, name: str | None = None) -> SourceText:
    """Read and decode one input file, or raise :class:`ConvertError` saying why not."""
    name = name or display_path(path)
    if not os.path.lexists(path):
        raise ConvertError(name, 1, "no such file or directory")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        target = os.readlink(path) if os.path.islink(path) else "?"
        raise ConvertError(
            name, 1, f"dangling symbolic link (target {target!r} does not exist)"
        ) from None
    except OSError as exc:
        raise ConvertError(name, 1, f"cannot read: {_os_cause(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConvertError(name, 1, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        # Reading a FIFO or a device could block forever or never end.
        raise ConvertError(name, 1, "not a regular file")
    try:
        data = _read_bytes(path)
    except OSError as exc:
        raise ConvertError(name, 1, f"cannot read: {_os_cause(exc)}") from None
    source = decode_source(data, name)
    source.stat = st
    return source


# --------------------------------------------------------------------------- text checks


def _parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        # Invalid escape sequences in configs are the user's business, not our output.
        warnings.simplefilter("ignore")
        return ast.parse(text)


def check_syntax(text: str, name: str, *, produced: bool = False) -> ast.Module:
    """Parse ``text`` as Python; raise :class:`ConvertError` at the error's line if it is not.

    ``produced`` marks text the converter wrote, whose failure is an internal error.
    """
    try:
        return _parse(text)
    except SyntaxError as exc:
        line = exc.lineno or 1
        cause = f"syntax error: {exc.msg}"
    except (RecursionError, MemoryError):
        line, cause = 1, "too deeply nested to parse"
    if produced:
        cause = f"internal error: the converted text is not valid Python ({cause}); not written"
    raise ConvertError(name, line, cause)


def _bases(tree: ast.Module, path: Path) -> list[str]:
    """The existing files a config's ``_base_`` names, as absolute lexical paths."""
    out: list[str] = []
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "_base_"
        ):
            continue
        values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
        for value in values:
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            if "{{" in value.value or "::" in value.value:
                continue  # templated or package-scoped: not a relative file path
            target = os.path.normpath(
                os.path.join(os.path.dirname(os.path.abspath(path)), value.value)
            )
            if os.path.isfile(target):
                out.append(target)
    return out


# --------------------------------------------------------------------------- writing


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` so that a crash leaves either the old or the new file.

    The data goes to a temporary file in the same directory (same file system), is flushed and
    fsynced, gets ``mode`` (default: the existing file's mode, else 0666 less the umask), and
    is renamed over ``path``. On any error the temporary file is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = _default_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform or file system allows it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_writable(target: Path, st: os.stat_result | None, name: str) -> None:
    """Refuse to replace a file its owner marked read-only, or that has changed since read."""
    try:
        now = os.stat(target)
    except OSError as exc:
        raise ConvertError(name, 1, f"cannot write: {_os_cause(exc)}") from None
    # Mode bits as well as access(): a replace needs only the directory to be writable, and
    # root passes access() anyway, but a file with no write bit was meant to stay as it is.
    if not (now.st_mode & 0o222) or not os.access(target, os.W_OK):
        raise ConvertError(name, 1, "cannot write: file is read-only; left untouched")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConvertError(name, 1, "cannot write: directory is not writable; left untouched")
    if st is not None and (now.st_mtime_ns, now.st_size) != (st.st_mtime_ns, st.st_size):
        raise ConvertError(name, 1, "file changed on disk while converting; left untouched")


def _io_error(name: str, exc: OSError, what: str) -> ConvertError:
    return ConvertError(name, 1, f"cannot {what}: {_os_cause(exc)}")


# --------------------------------------------------------------------------- diffs


def _lines(text: str) -> list[str]:
    # Not str.splitlines: a form feed or U+2028 inside a line is not a line break in Python.
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def unified_diff(old: str, new: str, name: str) -> str:
    """A unified diff from ``old`` to ``new`` with ``a/NAME`` and ``b/NAME`` headers.

    Lines keep their own line endings; a last line without one is marked as ``diff`` does.
    """
    label = name.lstrip("/")
    out = []
    for line in difflib.unified_diff(_lines(old), _lines(new), f"a/{label}", f"b/{label}"):
        if line.startswith(("---", "+++")):
            line = line.rstrip("\n") + "\n"
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


# --------------------------------------------------------------------------- the run


@dataclass
class _Job:
    input: InputFile
    name: str
    source: SourceText | None = None
    tree: ast.Module | None = None
    new_text: str | None = None
    findings: list[Finding] = field(default_factory=list)
    error: ConvertError | None = None

    @property
    def config_path(self) -> Path | None:
        """Where the converter locates this config's ``_base_`` files and codebase."""
        return self.input.stands_for if self.input.stdin else self.input.path

    @property
    def changed(self) -> bool:
        return (
            self.source is not None
            and self.new_text is not None
            and (self.new_text != self.source.text)
        )


def _same_file(reported: str, job: _Job) -> bool:
    if job.input.stdin:
        return reported in ("", "None", STDIN, STDIN_NAME, job.name, str(job.input.stands_for))
    try:
        return reported in ("", str(job.input.path), job.name) or os.path.samefile(
            reported, job.input.path
        )
    except OSError:
        return False


def _read(job: _Job, stdin: BinaryIO | bytes | None) -> None:
    """Read and decode one input; sets ``job.error`` instead of raising."""
    try:
        if job.input.problem is not None:
            raise ConvertError(job.name, 1, job.input.problem)
        if job.input.stdin:
            data = stdin if isinstance(stdin, bytes) else (stdin.read() if stdin else b"")
            job.source = decode_source(data, job.name)
        else:
            job.source = read_source(job.input.path, job.name)
    except ConvertError as exc:
        job.error = exc


def _convert(job: _Job, converter: SourceConverter) -> None:
    """Check and convert one input read by :func:`_read`; sets ``job.error`` instead of
    raising."""
    if job.error is not None:
        return
    try:
        assert job.source is not None
        # not kept: an ast per input would make memory grow with the run (out-dir parses
        # again what it needs)
        check_syntax(job.source.text, job.name)
        if not job.source.text:
            job.new_text = ""  # an empty file holds no config: unchanged, as black and ruff say
            return
        result = converter.convert_source(job.source.text, job.config_path)
        job.findings = list(result.findings)
        if result.source != job.source.text:
            check_syntax(result.source, job.name, produced=True)
            job.source.encode(result.source)  # fail now, not half-way through writing
        job.new_text = result.source
    except ConvertError as exc:
        # The converter may name a _base_ file; keep that, but name this input our way.
        name = job.name if _same_file(exc.path, job) else exc.path
        job.error = ConvertError(name, exc.line, exc.cause)
    except UnicodeEncodeError as exc:
        job.error = ConvertError(
            job.name, 1, f"internal error: converted text cannot be encoded: {exc}"
        )
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the run
        job.error = ConvertError(job.name, 1, f"internal error: {type(exc).__name__}: {exc}")


def convert_jobs(
    jobs: list[_Job],
    converter: SourceConverter,
    workers: int = 1,
    done: Callable[[_Job], None] | None = None,
) -> None:
    """Convert every job read without error, in ``workers`` processes (see
    :mod:`.workers`); the results are the same as in one process. ``done(job)`` is called here,
    in the parent, for every job (a failed read included) in input order, as soon as it and
    every job before it are converted: progress whatever the number of workers."""
    finished = [False] * len(jobs)
    cursor = 0
    index = {id(job): i for i, job in enumerate(jobs)}

    def finish(job: _Job) -> None:
        nonlocal cursor
        finished[index[id(job)]] = True
        while cursor < len(jobs) and finished[cursor]:
            if done is not None:
                done(jobs[cursor])
            cursor += 1

    def apply(job: _Job, result: _RemoteResult) -> None:
        _apply_remote(job, result)
        finish(job)

    files = [j for j in jobs if j.error is None and not j.input.stdin]
    rest = jobs
    for job in jobs:
        if job.error is not None:
            finish(job)  # not converted: failed when read
    if workers > 1 and run_parallel(
        files, lambda job: _convert_remote(job, converter), apply, workers
    ):
        rest = [j for j in jobs if j.input.stdin]
    for job in rest:
        if job.error is None:
            _convert(job, converter)
            finish(job)


#: what a worker sends back for one input: new text (None: unchanged), findings, error
_RemoteResult = tuple[str | None, list[Finding], tuple[str, int, str] | None]


def _convert_remote(job: _Job, converter: SourceConverter) -> _RemoteResult:
    """In a worker: convert ``job``; the new text (None: unchanged), findings, error."""
    _convert(job, converter)
    error = job.error
    text = job.new_text if job.changed else None
    return text, job.findings, (error.path, error.line, error.cause) if error else None


def _apply_remote(job: _Job, result: _RemoteResult) -> None:
    text, job.findings, error = result
    assert job.source is not None
    job.new_text = job.source.text if text is None else text
    job.error = ConvertError(*error) if error else None


def _mirror_root(
    jobs: list[_Job], others: Iterable[tuple[Path, Path]], bases: Iterable[str]
) -> str:
    anchors = []
    for job in jobs:
        if job.input.stdin:
            continue
        anchor = job.input.root if job.input.root is not None else job.input.path.parent
        anchors.append(os.path.abspath(anchor))
    anchors.extend(os.path.abspath(root) for _, root in others)
    anchors.extend(os.path.dirname(b) for b in bases)
    return os.path.commonpath(anchors) if anchors else os.getcwd()


def _referenced_bases(jobs: list[_Job]) -> list[str]:
    """Every ``_base_`` file the inputs reach, recursively, that is not itself an input."""
    inputs = {os.path.abspath(j.input.path) for j in jobs if not j.input.stdin}
    found: list[str] = []
    seen = set(inputs)
    queue: list[str] = []
    for job in jobs:
        if job.tree is not None and not job.input.stdin:
            queue.extend(_bases(job.tree, job.input.path))
    while queue:
        base = queue.pop(0)
        if base in seen:
            continue
        seen.add(base)
        found.append(base)
        try:
            tree = _parse(_read_bytes(Path(base)).decode("utf-8-sig"))
        except (OSError, ValueError, SyntaxError, RecursionError, MemoryError):
            continue  # copied as it is; its own bases are out of reach
        queue.extend(_bases(tree, Path(base)))
    return sorted(found)


def run(
    paths: Sequence[str],
    options: EngineOptions | None = None,
    *,
    converter: SourceConverter | None = None,
    stdin: BinaryIO | bytes | None = None,
    observer: RunObserver | None = None,
) -> RunReport:
    """Convert every input named by ``paths``, then act on the results by mode.

    Modes: ``IN_PLACE`` rewrites changed files (``-``: result on ``report.stdout``); ``OUT_DIR``
    writes a mirror under ``options.out_dir`` (see the module docstring); ``DIFF`` puts a
    unified diff on each changed file's report; ``CHECK`` only reports. Nothing is written before
    every input has been converted. ``stdin`` is read only when ``-`` is among ``paths``.
    ``observer`` hears of each input as it is converted.
    """
    options = options or EngineOptions()
    if options.mode is Mode.OUT_DIR and options.out_dir is None:
        raise ValueError("out-dir mode needs options.out_dir")
    if converter is None:
        converter = Converter(ConvertOptions(codebase=options.codebase))
    exclude = options.out_dir if options.mode is Mode.OUT_DIR else None
    inputs, others = discover(paths, exclude, options)
    observer = observer or RunObserver()

    jobs = [_Job(item, item.display) for item in inputs]
    _tell_run_files(converter, jobs)
    observer.started(len(jobs))
    for job in jobs:
        _read(job, stdin)
    # Every file of the run is known to the converter before any is converted: a file's
    # conversion may depend on the others (the run's codebase), whatever the order or --jobs.
    register = getattr(converter, "register", None)
    if register is not None:
        for job in jobs:
            # an empty file is no config: never converted, so not one of the run's configs
            if job.error is None and not job.input.stdin and job.source and job.source.text:
                register(job.input.path, job.source.text)

    def converted(job: _Job) -> None:
        job.findings = options.findings.apply(job.findings)
        observer.converted(job.name, job.findings, job.error)

    convert_jobs(jobs, converter, options.jobs, converted)
    if options.mode is Mode.OUT_DIR:
        for job in jobs:  # the mirror follows the inputs' _base_ files
            if job.tree is None and job.error is None and job.source is not None:
                job.tree = _parse(job.source.text)

    report = RunReport(mode=options.mode, fail_on=options.fail_on)
    written: dict[str, str] = {}
    if options.mode is Mode.OUT_DIR:
        assert options.out_dir is not None
        written = _write_mirror(jobs, others, Path(options.out_dir), report)
    elif options.mode is Mode.IN_PLACE:
        targets: set[str] = set()
        for job in jobs:
            if job.error is None and job.changed and not job.input.stdin:
                dest = _write_in_place(job, targets)
                if dest is not None:
                    written[os.path.abspath(job.input.path)] = dest
    for job in jobs:
        if job.error is None and job.input.stdin and options.mode in (Mode.IN_PLACE, Mode.OUT_DIR):
            assert job.source is not None and job.new_text is not None
            report.stdout = job.source.encode(job.new_text) if job.changed else job.source.raw
        file = _file_report(job, options.mode, written)
        if options.explain and job.error is None:
            from migrate_optim.convert.explain import decisions

            file.decisions = decisions(
                converter,
                job.source.text,
                job.new_text,
                job.config_path,
                options.codebase,
                file.findings,
            )
        report.files.append(file)
    return report


def _tell_run_files(converter: SourceConverter, jobs: list[_Job]) -> None:
    """Tell the converter which files this run converts: a ``_base_`` file outside them stays
    0.x on disk, so a child is given complete 1.x settings instead of an override of a
    converted base that will not exist (partial conversion must be safe)."""
    set_run_files = getattr(converter, "set_run_files", None)
    if callable(set_run_files):
        set_run_files([job.config_path for job in jobs if job.config_path is not None])


def _file_report(job: _Job, mode: Mode, written: dict[str, str]) -> FileReport:
    if job.error is not None:
        return FileReport(job.name, Status.FAILED, job.findings, error=job.error)
    assert job.source is not None and job.new_text is not None
    status = Status.CHANGED if job.changed else Status.UNCHANGED
    diff = None
    if mode is Mode.DIFF and job.changed:
        raw_text = job.source.raw.decode("utf-8-sig")
        diff = unified_diff(raw_text, job.source.restore(job.new_text), job.name)
    dest = None if job.input.stdin else written.get(os.path.abspath(job.input.path))
    return FileReport(
        job.name,
        status,
        job.findings,
        diff=diff,
        written=dest,
        before=job.source.text,
        after=job.new_text,
    )


def _write_in_place(job: _Job, targets: set[str]) -> str | None:
    """Replace one changed input; returns the name written, or sets ``job.error``."""
    assert job.source is not None and job.new_text is not None and job.source.stat
    # Write through a symlink: the link stays a link, to the converted text.
    target = Path(os.path.realpath(job.input.path))
    if str(target) in targets:
        return display_path(target)  # the same file under another name: written already
    try:
        _check_writable(target, job.source.stat, job.name)
        atomic_write(target, job.source.encode(job.new_text), stat.S_IMODE(job.source.stat.st_mode))
    except ConvertError as exc:
        job.error = exc
        return None
    except OSError as exc:
        job.error = _io_error(job.name, exc, "write")
        return None
    targets.add(str(target))
    return display_path(target)


def _write_mirror(
    jobs: list[_Job], others: list[tuple[Path, Path]], out_dir: Path, report: RunReport
) -> dict[str, str]:
    """Write the out-dir mirror; returns input abspath -> display name of what was written."""
    bases = _referenced_bases(jobs)
    root = _mirror_root(jobs, others, bases)
    written: dict[str, str] = {}

    def dest_of(path: Path | str) -> Path:
        return out_dir / os.path.relpath(os.path.abspath(path), root)

    def put(dest: Path, data: bytes, mode: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, mode)

    for job in jobs:
        if job.error is not None or job.input.stdin:
            continue
        assert job.source is not None and job.new_text is not None and job.source.stat
        dest = dest_of(job.input.path)
        data = job.source.encode(job.new_text) if job.changed else job.source.raw
        try:
            put(dest, data, stat.S_IMODE(job.source.stat.st_mode))
        except OSError as exc:
            job.error = _io_error(display_path(dest), exc, "write")
            continue
        written[os.path.abspath(job.input.path)] = display_path(dest)

    for src in [f for f, _ in others] + [Path(b) for b in bases]:
        dest = dest_of(src)
        try:
            st = os.stat(src)
            if not stat.S_ISREG(st.st_mode):
                continue  # a FIFO or socket: reading could block, and it is no config
            data = _read_bytes(src)
            mode = stat.S_IMODE(st.st_mode)
        except OSError as exc:
            report.copy_errors.append(_io_error(display_path(src), exc, "copy"))
            continue
        try:
            put(dest, data, mode)
        except OSError as exc:
            report.copy_errors.append(_io_error(display_path(dest), exc, "copy"))
            continue
        report.copied.append(display_path(dest))
    return written
