"""The LICENSE file is the license pyproject.toml declares."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_matches_pyproject():
    # no tomllib on Python 3.10
    declared = re.search(
        r'^license = \{ text = "([^"]+)" \}$', (ROOT / "pyproject.toml").read_text(), re.M
    )
    assert declared is not None and declared.group(1) == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    words = text.split()
    assert words[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    # The standard text, word for word (layout aside).
    digest = hashlib.sha256(" ".join(words).encode()).hexdigest()
    assert digest == EXPECTED


#: sha256 of the whitespace-normalised standard Apache-2.0 text (apache.org, Debian common-licenses)
EXPECTED = "0ffddef9e48f8a09aed5caf2d44f7ba1c1be2d9b8e0a6f693b1635b2d5566645"
