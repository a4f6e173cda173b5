"""Writing a run's report file (``--report PATH``) in the format its suffix names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_report(path: Path, doc: Mapping[str, Any], texts: Mapping[str, tuple[str, str]]) -> None:
    """Write ``doc`` as Markdown (``.md``) or HTML (``.html``/``.htm``), by suffix."""
    from migrate_optim.convert.engine import atomic_write

    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        from migrate_optim.report.html import render_html

        text = render_html(doc, texts)
    elif suffix in (".md", ".markdown"):
        from migrate_optim.report.markdown import render_markdown

        text = render_markdown(doc)
    else:
        raise ValueError(f"--report {path}: the name must end in .md or .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))
