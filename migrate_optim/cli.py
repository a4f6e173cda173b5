"""The ``migrate-optim`` command line: parses options, runs the engine, prints the outcome.

Kept thin on purpose: the work is in :mod:`migrate_optim.convert.engine`. Importing this module
must not import torch (``convert`` works without the ``verify`` extra).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from migrate_optim import __version__
from migrate_optim.convert.core import CODEBASES
from migrate_optim.convert.engine import (
    STDIN,
    EngineOptions,
    ExitCode,
    Mode,
    RunReport,
    Status,
    combine_exit_codes,
    run,
    summary_text,
)
from migrate_optim.convert.findings import FindingFilter
from migrate_optim.convert.output import (
    ProgressObserver,
    error_annotation,
    finding_annotation,
    github_annotation,
    progress_wanted,
)
from migrate_optim.convert.workers import default_jobs
from migrate_optim.report import (
    report_suffix_ok,
    run_document,
    tally_text,
    texts_of,
    verify_section,
)
from migrate_optim.report.write import write_report

if TYPE_CHECKING:
    from migrate_optim.verify.report import VerifyReport

EXIT_CODES_HELP = """\b
Exit codes (convert, convert --verify, verify):
  0  done, nothing to do, or equivalent
  1  changes needed (--check, --diff), findings at --fail-on or worse,
     or a verified pair that trains differently
  2  bad input or options: some input could not be handled
  3  could not verify: the input is fine, the verify runtime cannot train it
  Several apply: 2 wins over 1, 1 over 3."""


@click.group(help=f"Migrate OpenMMLab 0.x optimizer configs to MMEngine 1.x.\n\n{EXIT_CODES_HELP}")
@click.version_option(__version__, prog_name="migrate-optim")
def main() -> None:
    """The ``migrate-optim`` command group."""


def _ci_options(command: Any) -> Any:
    """The options that fit ``convert`` into CI and editors (excludes, stdin name, exit policy,
    output formats, report); they reach the command as ``**ci``."""
    options = [
        click.option(
            "--exclude",
            multiple=True,
            metavar="PATTERN",
            help="Gitignore-style pattern of paths to skip when walking a directory (repeatable "
            "or comma-separated); replaces the default (.*, __pycache__).",
        ),
        click.option(
            "--extend-exclude",
            multiple=True,
            metavar="PATTERN",
            help="Like --exclude, but added to the default patterns.",
        ),
        click.option(
            "--force-exclude",
            is_flag=True,
            help="Apply the excludes to files named on the command line too (pre-commit).",
        ),
        click.option(
            "--stdin-filename",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PATH",
            help="The file stdin stands for: its _base_ chain and codebase are read from there, "
            "and messages name it.",
        ),
        click.option(
            "--fail-on",
            type=click.Choice(["error", "warning"]),
            help="Exit 1 while findings of this severity or worse remain (error: TODOs left "
            "for a person; warning: also conversions that may differ in a corner case).",
        ),
        click.option(
            "--output-format",
            type=click.Choice(["text", "github"]),
            default="text",
            show_default=True,
            help="github: findings and errors as GitHub Actions annotations on stdout.",
        ),
        click.option(
            "--verbose",
            "-v",
            is_flag=True,
            help="Show per-file decisions: the codebase and how it was found, what was rewritten.",
        ),
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PATH",
            help="Write a before/after report of the run: PATH ending in .md (pull-request "
            "comment, CI step summary) or .html (side by side, self-contained).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command(
    help=f"""Convert 0.x configs to the MMEngine 1.x optimizer format.

PATH is a config file, a directory (every *.py below it, recursively, skipping hidden
entries and __pycache__) or - (read stdin, write the result to stdout). Every file is converted
before any is written, so the _base_ files of a child are read as they were.

By default files are rewritten in place. --out-dir writes a mirror of the input trees instead
(with every unchanged file and referenced _base_ file copied, so relative _base_ paths still
resolve); --diff prints a unified diff and --check only reports; neither writes anything.

Bad input (syntax errors, bytes that are not UTF-8, binary files, unreadable or unwritable
files, dangling symlinks, missing paths) is reported as one line FILE:LINE: error: CAUSE and
left untouched; the other files are still converted. Empty files are left unchanged.

{EXIT_CODES_HELP}"""
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write converted files to a mirror of the input trees under DIR.",
    metavar="DIR",
)
@click.option("--diff", is_flag=True, help="Print a unified diff; write nothing.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
@click.option(
    "--codebase",
    type=click.Choice(CODEBASES),
    help="The 0.x codebase the configs come from (default: detected per config).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON report (per-file status, findings, errors) on stdout instead of the "
    "summary.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@click.option(
    "--select",
    metavar="IDS",
    help="Report only findings with these ids: comma-separated ids or prefixes (MO1, MO207, "
    "ALL), as in ruff.",
)
@click.option(
    "--ignore",
    metavar="IDS",
    help="Do not report findings with these ids or prefixes (the more specific of --select "
    "and --ignore wins). Ignoring only hides findings: the converted files, their "
    "TODO(migrate-optim) comments included, are the same.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Also verify each conversion by training both configs (needs the verify extra).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="Convert in N worker processes (default: the number of CPU cores; 1: no workers). "
    "The output is the same for every N.",
)
@_ci_options
@click.pass_context
def convert(
    ctx: click.Context,
    paths: tuple[str, ...],
    out_dir: Path | None,
    diff: bool,
    check: bool,
    codebase: str | None,
    as_json: bool,
    quiet: bool,
    select: str | None,
    ignore: str | None,
    verify: bool,
    jobs: int | None,
    **ci: Any,
) -> None:
    """Convert configs (the help text is set on the decorator)."""
    try:
        shown = FindingFilter.parse(select, ignore)
    except ValueError as exc:
        raise click.UsageError(f"--select/--ignore: {exc}") from None
    if out_dir is not None and (diff or check):
        raise click.UsageError("--out-dir cannot be combined with --diff or --check")
    # --check --diff is --diff: it already writes nothing and exits 1 on changes.
    mode = (
        Mode.DIFF if diff else Mode.CHECK if check else Mode.OUT_DIR if out_dir else Mode.IN_PLACE
    )
    if as_json and STDIN in paths and mode in (Mode.IN_PLACE, Mode.OUT_DIR):
        raise click.UsageError("--json needs stdout: with '-' use it only with --check or --diff")
    out = _Output.from_options(ci, as_json=as_json, quiet=quiet)
    if verify:
        _require_verify(ctx)

    stdin = sys.stdin.buffer if STDIN in paths else None
    options = EngineOptions(
        mode,
        out_dir,
        codebase,
        findings=shown,
        exclude=_patterns(ci["exclude"]) if ci["exclude"] else None,
        extend_exclude=_patterns(ci["extend_exclude"]),
        force_exclude=ci["force_exclude"],
        stdin_filename=ci["stdin_filename"],
        explain=out.verbose,
        fail_on=ci["fail_on"],
        # --verify records each conversion in this process (the recorder is the converter)
        jobs=1 if verify else jobs or default_jobs(),
    )
    recorder = None
    if verify:
        from migrate_optim.convert.core import Converter, ConvertOptions
        from migrate_optim.verify.convert_check import RecordingConverter

        recorder = RecordingConverter(Converter(ConvertOptions(codebase=codebase)))
    observer = ProgressObserver(_err()) if out.streaming else None
    try:
        report = run(paths, options, converter=recorder, stdin=stdin, observer=observer)
    finally:
        if observer is not None:
            observer.close()
    code = int(report.exit_code)
    section = None
    if recorder is not None:
        section = _verify_run(recorder, codebase)
        tally = section["tally"]
        code = combine_exit_codes(
            code,
            ExitCode.CHANGES if tally["different"] else ExitCode.OK,
            ExitCode.NOT_VERIFIED if tally["could_not_verify"] else ExitCode.OK,
        )
    lines = section.pop("lines") if section is not None else []
    doc = run_document("convert", code, report, section)
    out.print_report(report, doc)
    if section is not None:
        out.print_verify(section, lines)
    if out.report_path is not None:
        write_report(out.report_path, doc, texts_of(report))
    ctx.exit(code)


def _verify_run(recorder: Any, codebase: str | None) -> dict[str, Any]:
    """Verify every conversion the recording converter saw; the document's ``verify`` entry.

    The engine converts everything in memory before writing; the recording converter keeps each
    input's original and converted text, which are then verified pair by pair (in temporary
    mirror trees, so that _base_ files resolve as they did).
    """
    from migrate_optim.verify.api import VerifyOptions
    from migrate_optim.verify.convert_check import format_check, verify_conversions

    check = verify_conversions(
        recorder.records,
        VerifyOptions(device="cpu", codebase=codebase),
        stdin_seen=recorder.stdin_seen,
    )
    section = verify_section([r.to_dict() for r in check.reports], check.skipped)
    section["lines"] = list(format_check(check))
    return section


# ---- verify command ---------------------------------------------------------------------------
# Lazy: migrate_optim.verify (and so torch) is imported inside the command only.

VERIFY_HELP = """Verify that OLD (a 0.x config) and NEW (a 1.x config) train the same.

Loading EXECUTES both config files and their _base_ files (as mmcv's and MMEngine's
Config.fromfile do): only verify configs you trust.

Both configs train the same model (a synthesized probe, or --model MODULE:FACTORY, a callable
taking the two loaded configs) on the same data with the same seed for N iterations: OLD with
the 0.x semantics of its codebase (optimizer hooks, or the MMGeneration GAN train_step of
model.type), NEW with MMEngine's optimizer wrappers (and MMagic's GAN train_step). Then every
difference is reported: per-parameter hyper-parameters, which optimizer steps when, clipping,
accumulation, loss scale, and parameter values after N iterations (fp32 on CPU: 1e-6 relative).
Without --steps, N covers two full accumulation / GAN periods plus a partial window. The whole
lr/momentum schedules (lr_config/momentum_config vs param_scheduler) are compared iteration by
iteration, with the training lengths; the N training steps use the scheduled values.

\b
Exit codes:
  0  equivalent
  1  different
  2  error (bad or unloadable config, unsupported schedule, bad option)
  3  could not verify: the pair is fine, but the verify runtime does not train it (e.g.
     OLD's 0.x codebase trains in a way verify does not model: mmselfsup, mmrazor,
     adversarial mmpose/mmhuman3d); the reason is printed"""


@main.command("verify", help=VERIFY_HELP)
@click.argument("old", metavar="OLD", required=False)
@click.argument("new", metavar="NEW", required=False)
@click.option(
    "--pairs",
    "pairs_file",
    type=click.File("r", encoding="utf-8"),
    help="Verify every pair listed in FILE ('OLD NEW' per line; '-': stdin) instead of OLD "
    "NEW, in --jobs forked processes that import torch once; reports in the file's order "
    "(--json: one JSON report per line).",
    metavar="FILE",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --pairs: pairs verified at once (default: the number of CPU cores).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="With --pairs: seconds a pair may take before it is stopped (an error).",
)
@click.option(
    "--model",
    metavar="MODULE:FACTORY",
    help="Build the model with FACTORY(old_cfg, new_cfg) instead of the probe.",
)
@click.option(
    "--steps", type=click.IntRange(min=1), help="Training iterations (default: from the configs)."
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train under torch.distributed with N local processes (gloo on CPU, NCCL on CUDA) "
    "and DDP, counting gradient all-reduces per iteration.",
)
@click.option(
    "--codebase",
    type=click.Choice(CODEBASES),
    help="The 0.x codebase of OLD (default: detected).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Model and data seed.")
@click.option(
    "--iters-per-epoch",
    type=click.IntRange(min=1),
    help="len(train_dataloader) for epoch-based schedules (default: 100).",
)
@click.pass_context
def verify_command(
    ctx: click.Context,
    old: str | None,
    new: str | None,
    pairs_file: click.utils.LazyFile | None,
    jobs: int | None,
    timeout: float,
    model: str | None,
    steps: int | None,
    device: str,
    as_json: bool,
    nproc: int,
    codebase: str | None,
    seed: int,
    iters_per_epoch: int | None,
) -> None:
    """Verify a config pair (the help text is set on the decorator)."""
    try:
        from migrate_optim.verify.api import VerifyOptions, verify_files
    except ImportError as exc:
        _err().print(
            f"error: verify requires the verify extra (pip install 'migrate-optim[verify]'): {exc}",
            markup=False,
        )
        ctx.exit(2)
    options = VerifyOptions(
        model=model,
        steps=steps,
        device=device,
        nproc=nproc,
        codebase=codebase,
        seed=seed,
        iters_per_epoch=iters_per_epoch,
    )
    if (pairs_file is None) == (old is None or new is None) or (pairs_file and old):
        raise click.UsageError("give OLD NEW, or --pairs FILE (not both)")
    if pairs_file is not None:
        from migrate_optim.verify.batch import PairsFileError, read_pairs, verify_many

        try:
            pairs = read_pairs(pairs_file, pairs_file.name)
        except PairsFileError as exc:
            raise click.UsageError(str(exc)) from None
        codes = [
            _show_verify(report, as_json, indent=None)
            for report in verify_many(pairs, options, jobs=jobs, timeout=timeout)
        ]
        # the exit-code table: 2 wins over 1, 1 over 3
        ctx.exit(combine_exit_codes(*codes))
    assert old is not None and new is not None
    ctx.exit(_show_verify(verify_files(old, new, options), as_json, indent=2))


def _show_verify(report: VerifyReport, as_json: bool, indent: int | None) -> int:
    """Print one verify report (tables, or JSON) and its error line; its exit code."""
    from migrate_optim.verify.report import render

    if report.status == "skipped":
        # Nothing to train is an error for an explicit pair (convert --verify skips it).
        report.status = "error"
    code = _verify_exit_code(report)
    if as_json:
        # One document for every command; the pair's own fields stay at the top level too.
        doc = run_document("verify", code, None, verify_section([report.to_dict()]))
        sys.stdout.write(json.dumps({**report.to_dict(), **doc}, indent=indent) + "\n")
        sys.stdout.flush()
    elif report.status not in ("error", "unsupported"):
        # Tables need room: a pipe or file gets 140 columns rather than rich's 80, and lines
        # wider than that (a verdict, a difference) are written whole, not wrapped.
        tty = sys.stdout.isatty()
        render(
            report,
            Console(highlight=False, emoji=False, width=None if tty else 140, soft_wrap=not tty),
        )
    if report.status == "error":
        _err().print(f"error: {report.error}", markup=False)
    elif report.status == "unsupported":
        _err().print(f"unsupported: {report.error}", markup=False)
    return code


def _verify_exit_code(report: Any) -> int:
    """The exit-code table's code for one verify report: 3 where the pair is fine but cannot
    be trained by the runtime (``unsupported``), else the report's own 0/1/2."""
    if report.status == "unsupported":
        return int(ExitCode.NOT_VERIFIED)
    return int(report.exit_code)


def _require_verify(ctx: click.Context) -> None:
    """Exit 2 before converting anything when the verify extra is not installed."""
    try:
        import migrate_optim.verify.api  # noqa: F401
    except ImportError as exc:
        _err().print(
            "error: --verify requires the verify extra (pip install 'migrate-optim[verify]'): "
            f"{exc}",
            markup=False,
        )
        ctx.exit(ExitCode.FAILED)


def _err() -> Console:
    # Built per call so that it writes to the sys.stderr of the moment (CliRunner swaps it).
    # soft_wrap: a FILE:LINE message must stay one line whatever the terminal width.
    # emoji off: ":name:" in a message must print as written.
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _patterns(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated patterns, as ruff and black take them."""
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


@dataclass
class _Output:
    """Where and how ``convert`` prints: diffs, converted stdin, JSON or annotations on stdout;
    errors, findings, -v decisions, verdicts and the summary on stderr."""

    as_json: bool
    quiet: bool
    github: bool
    verbose: bool
    streaming: bool
    report_path: Path | None

    @classmethod
    def from_options(cls, ci: dict[str, Any], *, as_json: bool, quiet: bool) -> _Output:
        """Check the output options against each other (usage errors exit 2)."""
        github = ci["output_format"] == "github"
        if github and as_json:
            raise click.UsageError("--json and --output-format github both need stdout")
        report_path = ci["report_path"]
        if report_path is not None and not report_suffix_ok(report_path):
            raise click.UsageError(f"--report {report_path}: the name must end in .md or .html")
        machine = as_json or github
        streaming = progress_wanted(_err(), quiet=quiet, machine_output=machine)
        return cls(as_json, quiet, github, ci["verbose"], streaming, report_path)

    @property
    def talk(self) -> bool:
        """Whether the human-readable lines (findings, summary) are printed."""
        return not (self.quiet or self.as_json)

    def print_report(self, report: RunReport, doc: dict[str, Any]) -> None:
        """Print the run (``doc`` is its JSON document)."""
        out = sys.stdout.buffer
        err = _err()
        if self.as_json:
            out.write((json.dumps(doc, indent=2) + "\n").encode("utf-8"))
        else:
            for file in report.files:
                if file.diff:
                    out.write(file.diff.encode("utf-8"))
            if report.stdout is not None:
                out.write(report.stdout)
        if self.github:
            for finding in report.findings:
                out.write((finding_annotation(finding) + "\n").encode("utf-8"))
            for error in report.errors:
                out.write((error_annotation(error) + "\n").encode("utf-8"))
        out.flush()

        for file in report.files:
            if file.error is not None:
                err.print(file.error.format(), style="red", markup=False)
                continue
            if not self.talk:
                continue
            if file.status is Status.CHANGED:
                if report.mode is Mode.CHECK:
                    err.print(f"would convert {file.path}", markup=False)
                elif report.mode is Mode.OUT_DIR and file.written:
                    err.print(f"converted {file.path} -> {file.written}", markup=False)
                elif report.mode is Mode.IN_PLACE and file.written:
                    err.print(f"converted {file.path}", markup=False)
            if self.verbose:
                for line in file.decisions:
                    err.print(f"  {file.path}: {line}", markup=False, style="dim")
        if self.talk and not self.streaming and not self.github:
            for finding in report.findings:
                err.print(finding.format(), markup=False)
        for error in report.copy_errors:
            err.print(error.format(), style="red", markup=False)
        if self.talk:
            style = "red" if report.exit_code == ExitCode.FAILED else "bold"
            err.print(summary_text(report), style=style, markup=False)
            failing = report.failing_findings
            if failing:
                err.print(
                    f"{len(failing)} finding{'s' * (len(failing) != 1)} at --fail-on "
                    f"{report.fail_on} or worse: exit 1",
                    style="red",
                    markup=False,
                )

    def print_verify(self, section: dict[str, Any], lines: list[tuple[str, str]]) -> None:
        """Verdicts, differences and skipped inputs, then the closing tally."""
        if self.github:
            out = sys.stdout
            for report in section["reports"]:
                if report["status"] == "equivalent":
                    continue
                path = (report.get("old") or {}).get("path") or ""
                message = "; ".join(d["message"] for d in report.get("differences", []))
                severity = "error" if report["status"] == "different" else "warning"
                title = "verify: different" if severity == "error" else "verify: not verified"
                out.write(
                    github_annotation(severity, path, 1, title, message or str(report["error"]))
                    + "\n"
                )
            out.flush()
        if self.as_json:
            return
        err = _err()
        for text, style in lines:
            if self.quiet and style != "red":
                continue
            err.print(text, style=style, markup=False)
        tally = section["tally"]
        if not self.quiet or tally["different"] or tally["could_not_verify"]:
            style = "red" if tally["different"] or tally["could_not_verify"] else "green"
            err.print(tally_text(tally), style=style, markup=False)


if __name__ == "__main__":  # pragma: no cover - `python -m migrate_optim.cli`
    main()
