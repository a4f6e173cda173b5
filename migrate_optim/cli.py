"""The ``migrate-optim`` command line: parses options, runs the engine, prints the outcome.

Kept thin on purpose: the work is in :mod:`migrate_optim.convert.engine`. Importing this module
must not import torch (``convert`` works without the ``verify`` extra).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    run,
    summary_text,
)
from migrate_optim.convert.findings import FindingFilter
from migrate_optim.convert.workers import default_jobs

if TYPE_CHECKING:
    from migrate_optim.verify.report import VerifyReport

EXIT_CODES_HELP = """\b
Exit codes:
  0  done, or nothing to do
  1  changes needed (--check, --diff)
  2  some input could not be handled (takes precedence over 1)"""


@click.group(help=f"Migrate OpenMMLab 0.x optimizer configs to MMEngine 1.x.\n\n{EXIT_CODES_HELP}")
@click.version_option(__version__, prog_name="migrate-optim")
def main() -> None:
    """The ``migrate-optim`` command group."""


@main.command(
    help=f"""Convert 0.x configs to the MMEngine 1.x optimizer format.

PATH is a config file, a directory (every *.py below it, recursively, skipping hidden
entries and __pycache__) or - (read stdin, write the result to stdout). Every file is converted
before any is written, so the _base_ files of a child are read as they were.

By default files are rewritten in place. --out-dir writes a mirror of the input trees instead
(with every unchanged file and referenced _base_ file copied, so relative _base_ paths still
resolve); --diff prints a unified diff and --check only reports; neither writes anything.

Bad input (syntax errors, bytes that are not UTF-8, binary or empty files, unreadable or
unwritable files, dangling symlinks, missing paths) is reported as one line
FILE:LINE: error: CAUSE and left untouched; the other files are still converted.

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
    if verify:
        _require_verify(ctx)

    stdin = sys.stdin.buffer if STDIN in paths else None
    # --verify records each conversion in this process (the recorder is the converter)
    workers = 1 if verify else jobs or default_jobs()
    options = EngineOptions(mode, out_dir, codebase, shown, jobs=workers)
    if not verify:
        report = run(paths, options, stdin=stdin)
        _print_report(report, as_json=as_json, quiet=quiet)
        ctx.exit(int(report.exit_code))

    # ---- VERIFY HOOK -----------------------------------------------------------------------
    # The engine converts everything in memory before writing; the recording converter keeps
    # each input's original and converted text, which are then verified pair by pair (in
    # temporary mirror trees, so that _base_ files resolve as they did).
    from migrate_optim.convert.core import Converter, ConvertOptions
    from migrate_optim.verify.api import VerifyOptions
    from migrate_optim.verify.convert_check import (
        RecordingConverter,
        format_check,
        verify_conversions,
    )

    recorder = RecordingConverter(Converter(ConvertOptions(codebase=codebase)))
    report = run(paths, options, converter=recorder, stdin=stdin)
    check = verify_conversions(
        recorder.records,
        VerifyOptions(device="cpu", codebase=codebase),
        stdin_seen=recorder.stdin_seen,
    )
    _print_report(report, as_json=as_json, quiet=quiet, extra={"verify": check.to_dict()})
    if not as_json:
        err = _err()
        for text, style in format_check(check):
            if quiet and style not in ("red",):
                continue
            err.print(text, style=style, markup=False)
    ctx.exit(max(int(report.exit_code), check.exit_code))


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
Without --steps, N covers two full accumulation / GAN periods plus a partial window.

\b
Exit codes:
  0  equivalent
  1  different
  2  error (bad or unloadable config, unsupported schedule, bad option)"""


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
        model=model, steps=steps, device=device, nproc=nproc, codebase=codebase, seed=seed
    )
    if (pairs_file is None) == (old is None or new is None) or (pairs_file and old):
        raise click.UsageError("give OLD NEW, or --pairs FILE (not both)")
    if pairs_file is not None:
        from migrate_optim.verify.batch import PairsFileError, read_pairs, verify_many

        try:
            pairs = read_pairs(pairs_file, pairs_file.name)
        except PairsFileError as exc:
            raise click.UsageError(str(exc)) from None
        worst = 0
        for report in verify_many(pairs, options, jobs=jobs, timeout=timeout):
            worst = max(worst, _show_verify(report, as_json, indent=None))
        ctx.exit(worst)
    assert old is not None and new is not None
    ctx.exit(_show_verify(verify_files(old, new, options), as_json, indent=2))


def _show_verify(report: VerifyReport, as_json: bool, indent: int | None) -> int:
    """Print one verify report (tables, or JSON) and its error line; its exit code."""
    from migrate_optim.verify.report import render

    if report.status == "skipped":
        # Nothing to train is an error for an explicit pair (convert --verify skips it).
        report.status = "error"
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=indent) + "\n")
        sys.stdout.flush()
    elif report.status != "error":
        # Tables need room: a pipe or file gets 140 columns rather than rich's 80.
        width = None if sys.stdout.isatty() else 140
        render(report, Console(highlight=False, emoji=False, width=width))
        sys.stdout.flush()
    if report.status == "error":
        _err().print(f"error: {report.error}", markup=False)
    return report.exit_code


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


def _print_report(
    report: RunReport, *, as_json: bool, quiet: bool, extra: dict | None = None
) -> None:
    """Diffs and converted stdin to stdout; errors, findings and the summary to stderr.

    ``extra`` keys are added to the JSON report (``convert --verify`` adds ``verify``).
    """
    out = sys.stdout.buffer
    err = _err()
    if as_json:
        data = {**report.to_dict(), **(extra or {})}
        out.write((json.dumps(data, indent=2) + "\n").encode("utf-8"))
    else:
        for file in report.files:
            if file.diff:
                out.write(file.diff.encode("utf-8"))
        if report.stdout is not None:
            out.write(report.stdout)
    out.flush()

    for file in report.files:
        if file.error is not None:
            err.print(file.error.format(), style="red", markup=False)
            continue
        if quiet or as_json:
            continue
        if file.status is Status.CHANGED:
            if report.mode is Mode.CHECK:
                err.print(f"would convert {file.path}", markup=False)
            elif report.mode is Mode.OUT_DIR and file.written:
                err.print(f"converted {file.path} -> {file.written}", markup=False)
            elif report.mode is Mode.IN_PLACE and file.written:
                err.print(f"converted {file.path}", markup=False)
    if not (quiet or as_json):
        for finding in report.findings:
            err.print(finding.format(), markup=False)
    for error in report.copy_errors:
        err.print(error.format(), style="red", markup=False)
    if not (quiet or as_json):
        style = "red" if report.exit_code == ExitCode.FAILED else "bold"
        err.print(summary_text(report), style=style, markup=False)


if __name__ == "__main__":  # pragma: no cover - `python -m migrate_optim.cli`
    main()
