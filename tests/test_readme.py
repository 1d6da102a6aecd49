"""The README must stay true to the code (the settings reference is tests/cli/test_settings_docs.py's)."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_error_row_is_tested_through_http():
    """Each code in docs/api.md's error table is asserted on a real answer by some HTTP-level test."""
    page = (ROOT / "docs" / "api.md").read_text()
    table = page.split("## Errors", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", table, re.MULTILINE)
    assert len(rows) >= 10, "the error table moved; update this test"
    sources = [path.read_text() for path in (ROOT / "tests" / "router").rglob("test_*.py")]
    for status, code in rows:
        asserted = [text for text in sources if re.search(rf'b?"{code}"', text) and re.search(rf"\b{status}\b", text)]
        assert asserted, f"no HTTP test asserts {status} {code}"
