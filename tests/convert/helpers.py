"""Before/after helpers for converter tests (django-upgrade style).

``check_transformed(before, after)`` converts ``before`` as a file ``config.py`` of a temporary
tree (plus any ``files`` beside it, e.g. ``_base_`` configs, converted as a whole tree the way the
engine does: every source registered before anything is written), asserts the output equals
``after`` and that converting the output tree again changes nothing. ``check_noop(src)`` asserts
a file is left byte for byte as it was.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from migrate_optim.convert.core import Converter, ConvertOptions, ConvertResult
from migrate_optim.convert.findings import Finding, FindingId

MAIN = "config.py"
TODO = "# TODO(migrate-optim):"


def dedent(src: str) -> str:
    """Strip the common indentation and a leading newline of a triple-quoted test source."""
    return textwrap.dedent(src).lstrip("\n")


@dataclass
class TreeResult:
    """The outcome of converting a whole tree once."""

    root: Path
    results: dict[str, ConvertResult] = field(default_factory=dict)

    def out(self, rel: str = MAIN) -> str:
        """The converted text of one file."""
        return self.results[rel].source

    def findings(self, rel: str | None = MAIN) -> list[Finding]:
        """Findings of one file (``None``: of every file)."""
        if rel is None:
            return [f for r in self.results.values() for f in r.findings]
        return list(self.results[rel].findings)

    def ids(self, rel: str | None = MAIN) -> list[str]:
        """Sorted rule ids of the findings of one file (``None``: of every file)."""
        return sorted(f.rule_id for f in self.findings(rel))

    def changed(self) -> list[str]:
        """Relative paths of the files whose text changed."""
        return sorted(rel for rel, r in self.results.items() if r.changed)


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``root``."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def convert_tree(root: Path, codebase: str | None = None, write: bool = True) -> TreeResult:
    """Convert every ``*.py`` under ``root`` as one run; write the outputs back if ``write``."""
    conv = Converter(ConvertOptions(codebase=codebase))
    paths = sorted(root.rglob("*.py"))
    sources = {p: p.read_text(encoding="utf-8") for p in paths}
    for p, text in sources.items():
        conv.register(p, text)
    out = TreeResult(root)
    for p, text in sources.items():
        result = conv.convert_source(text, p)
        assert_catalogued(result.findings)
        out.results[p.relative_to(root).as_posix()] = result
    if write:
        for p in paths:
            r = out.results[p.relative_to(root).as_posix()]
            if r.changed:
                p.write_text(r.source, encoding="utf-8")
    return out


def assert_catalogued(findings: list[Finding]) -> None:
    """Every finding carries a catalogue id with one of the severities the catalogue allows."""
    for f in findings:
        assert isinstance(f.rule_id, FindingId), f"{f.format()}: id not from the catalogue"
        allowed = [s.value for s in f.rule_id.severities]
        assert f.severity in f.rule_id.severities, f"{f.format()}: severity not in {allowed}"


@contextmanager
def tree(files: dict[str, str]) -> Iterator[Path]:
    """A temporary directory holding ``files`` (dedented)."""
    with tempfile.TemporaryDirectory(prefix="mo-convert-") as d:
        root = Path(d) / "configs"
        root.mkdir()
        write_tree(root, {k: dedent(v) for k, v in files.items()})
        yield root


def assert_idempotent(root: Path, codebase: str | None = None) -> None:
    """A second run over an already converted tree changes nothing."""
    again = convert_tree(root, codebase, write=False)
    changed = {rel: again.out(rel) for rel in again.changed()}
    assert not changed, f"second run changed {sorted(changed)}:\n" + "\n".join(changed.values())


def run_tree(
    files: dict[str, str],
    codebase: str | None = None,
    check_idempotent: bool = True,
    semantics: str | None = None,
) -> TreeResult:
    """Convert a whole tree of (dedented) files; every output must parse and be a fixed point.

    ``semantics``: the codebase under which to check, with MMEngine's ``Config.fromfile``,
    that every converted file resolves to the oracle's translation of its 0.x self
    (:func:`assert_equivalent`).
    """
    with tree(files) as root:
        original = root.parent / "original"
        shutil.copytree(root, original)
        result = convert_tree(root, codebase)
        for rel, r in result.results.items():
            ast.parse(r.source, filename=rel)
        if check_idempotent:
            assert_idempotent(root, codebase)
        if semantics is not None:
            assert_equivalent(original, root, semantics)
        return result


def assert_equivalent(original: Path, converted: Path, codebase: str) -> int:
    """Every converted config loads and matches the oracle (where defined and not left with a
    TODO); returns how many were compared. Where the oracle is undefined, a TODO must mark the
    file or a base."""
    from tests.convert import oracle
    from tests.convert.mmengine_load import load, memoised_bases

    compared = 0
    with memoised_bases():
        for path in sorted(original.rglob("*.py")):
            rel = path.relative_to(original)
            want = oracle.expected(load(path), codebase)
            got = oracle.actual(load(converted / rel))
            if want == oracle.UNDEFINED:
                assert chain_has_todo(converted / rel), f"{rel}: undefined, but no TODO"
                continue
            if chain_has_todo(converted / rel):
                continue  # left for the user (e.g. a dynamic name the oracle could evaluate)
            assert oracle.same(got, want), f"{rel}:\n got  {got}\n want {want}"
            compared += 1
    return compared


def chain_has_todo(path: Path, _seen: frozenset[Path] = frozenset()) -> bool:
    """Whether ``path`` or one of its ``_base_`` files carries a TODO(migrate-optim) comment."""
    if path in _seen or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if TODO in text:
        return True
    for node in ast.parse(text).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets)
        ):
            bases = ast.literal_eval(node.value)
            for b in [bases] if isinstance(bases, str) else bases:
                if chain_has_todo((path.parent / b).resolve(), _seen | {path}):
                    return True
    return False


def check_transformed(
    before: str,
    after: str,
    codebase: str | None = None,
    files: dict[str, str] | None = None,
    ids: list[str] | None = None,
) -> TreeResult:
    """``before`` (as ``config.py``, beside ``files``) converts to exactly ``after``.

    ``ids``: when given, the sorted rule ids of ``config.py``'s findings.
    """
    result = run_tree({**(files or {}), MAIN: before}, codebase)
    got = result.out()
    want = dedent(after)
    assert got == want, f"--- got ---\n{got}\n--- want ---\n{want}"
    if ids is not None:
        assert result.ids() == sorted(ids), [f.format() for f in result.findings()]
    return result


def check_noop(
    src: str,
    codebase: str | None = None,
    files: dict[str, str] | None = None,
    ids: list[str] | None = None,
) -> TreeResult:
    """``src`` (as ``config.py``) is left byte for byte unchanged."""
    result = run_tree({**(files or {}), MAIN: src}, codebase)
    assert result.out() == dedent(src), result.out()
    if ids is not None:
        assert result.ids() == sorted(ids), [f.format() for f in result.findings()]
    return result


def todos(text: str) -> list[str]:
    """The TODO comment lines of a converted file."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith(TODO)]


# ---- GAN trees (MMGeneration 0.x) --------------------------------------------------------------
# The GAN rule tests (test_gan_*.py) write a small 0.x tree (with ``_base_`` files where
# inheritance matters), convert it as a whole like the CLI does, and check the 1.x result as
# MMEngine's ``Config`` loads it (so inheritance and Python validity are checked too) plus the
# findings.

GAN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gan"

GAN_BASE = """
model = dict(
    type='{type}',
    generator=dict(type='G', out_size=64),
    discriminator=dict(type='D', in_size=64))
train_cfg = {train_cfg}
test_cfg = None
optimizer = dict(
    generator=dict(type='Adam', lr=0.0001, betas=(0.0, 0.999)),
    discriminator=dict(type='Adam', lr=0.0004, betas=(0.0, 0.999)))
"""

GAN_RUNTIME = """
custom_hooks = [dict(type='VisualizeUnconditionalSamples', interval=1000)]
runner = dict(
    type='DynamicIterBasedRunner',
    is_dynamic_ddp=True,
    pass_training_status=True)
workflow = [('train', 10000)]
"""


def gan_tree(model_type: str, train_cfg: str, child: str) -> dict[str, str]:
    """A GAN base (``model_type``, ``train_cfg``), an mmgen runtime base and a child ``exp.py``."""
    return {
        "_base_/gan.py": GAN_BASE.format(type=model_type, train_cfg=train_cfg),
        "_base_/runtime.py": GAN_RUNTIME,
        "exp.py": "_base_ = ['./_base_/gan.py', './_base_/runtime.py']\n" + textwrap.dedent(child),
    }


def convert_gan_tree(
    root: Path, files: dict[str, str], codebase: str | None = "mmgen"
) -> dict[str, ConvertResult]:
    """Write (dedented) ``files`` under ``root``, convert them as one tree (mmgen unless told
    otherwise) and write the results back; returns the result of every file."""
    write_tree(root, {rel: dedent(text) for rel, text in files.items()})
    return convert_tree(root, codebase).results


def load_1x(root: Path, rel: str) -> dict:
    """A converted config as MMEngine resolves it (bases merged); needs mmengine."""
    from mmengine import Config

    return Config.fromfile(str(root / rel)).to_dict()


def finding_ids(result: ConvertResult, severity: str | None = None) -> list[str]:
    """The rule ids of a file's findings (of one severity when given), in order."""
    return [f.rule_id for f in result.findings if severity is None or f.severity.value == severity]


def finding_messages(result: ConvertResult, rule_id: str) -> str:
    """The messages of a file's findings with ``rule_id``, one per line."""
    return "\n".join(f.message for f in result.findings if f.rule_id == rule_id)
